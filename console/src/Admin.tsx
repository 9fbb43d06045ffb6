import { AuditPage } from './pages/AuditPage';
import { ExecutionsPage } from './pages/ExecutionsPage';
import { PoliciesPage } from './pages/PoliciesPage';
import { PrincipalsPage } from './pages/PrincipalsPage';
import { ProvidersPage } from './pages/ProvidersPage';
import { QuarantinePage } from './pages/QuarantinePage';
import { ToolsAdminPage } from './pages/ToolsAdminPage';
import { Link, type AdminSection } from './router';

const SECTIONS: [AdminSection, string][] = [
  ['providers', 'Providers'],
  ['tools', 'Tools'],
  ['quarantine', 'Quarantine'],
  ['policies', 'Policies'],
  ['principals', 'Principals'],
  ['executions', 'Executions'],
  ['audit', 'Audit log'],
];

/** The admin sections, each at its own address (`/console/admin/<section>`); the section's page has the view's heading. */
export function Admin({ section }: { section: AdminSection }) {
  return (
    <>
      <nav aria-label="Admin sections" className="tabs">
        {SECTIONS.map(([id, label]) => (
          <Link key={id} to={{ name: 'admin', section: id }} aria-current={section === id ? 'page' : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      <AdminSectionView section={section} />
    </>
  );
}

function AdminSectionView({ section }: { section: AdminSection }) {
  switch (section) {
    case 'providers':
      return <ProvidersPage />;
    case 'tools':
      return <ToolsAdminPage />;
    case 'quarantine':
      return <QuarantinePage />;
    case 'policies':
      return <PoliciesPage />;
    case 'principals':
      return <PrincipalsPage />;
    case 'executions':
      return <ExecutionsPage />;
    case 'audit':
      return <AuditPage />;
    default:
      return section satisfies never;
  }
}

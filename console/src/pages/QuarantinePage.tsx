import type * as G from '../generated/graphql';
import approve from '../operations/approve.graphql?raw';
import quarantined from '../operations/quarantined.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { Link } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { Confirm, Outcome, useAction, when } from './common';
import { DefinitionDiff } from './DefinitionDiff';

/** Tools whose changed definition awaits approval: the approved and pending definitions compared, and an approve step that asks first. */
export function QuarantinePage() {
  const { call } = useSession();
  const pages = useCursorPages();
  const after = pages.after;
  const list = useLoad(() => call<G.ConsoleQuarantinedQuery, G.ConsoleQuarantinedQueryVariables>(quarantined, { after }), [call, after]);
  const action = useAction();

  const approveVersion = (toolId: string, name: string, version: number) =>
    action.run(async () => {
      const data = await call<G.ConsoleApproveMutation, G.ConsoleApproveMutationVariables>(approve, { input: { toolId, version } });
      const { tool, userErrors } = data.approveToolVersion;
      list.reload();
      if (userErrors[0]) throw new Error(`${userErrors[0].message} (${userErrors[0].code})`);
      return tool ? `Approved ${tool.name} version ${tool.version}: now ${tool.status.toLowerCase()}.` : `Approved ${name} version ${version}.`;
    });

  const tools = list.data?.tools.edges ?? [];
  return (
    <section aria-labelledby="quarantine-title">
      <h1 id="quarantine-title">Quarantine</h1>
      <p className="hint">A tool whose definition changed at its provider stays on its approved version, and cannot be called, until an admin approves the change.</p>
      <ErrorMessage error={list.error} />
      <Outcome action={action} />
      {list.data && tools.length === 0 && <p>No tool awaits approval.</p>}
      {tools.map(({ node: t }) => {
        const approved = t.versions.find((v) => v.version === t.version) ?? t.versions.find((v) => v.status === 'APPROVED') ?? null;
        return t.versions
          .filter((v) => v.status === 'PENDING')
          .map((v) => (
            <article key={`${t.id}:${v.version}`} className="card" aria-labelledby={`review-${t.id}-${v.version}`}>
              <h2 id={`review-${t.id}-${v.version}`}>
                <Link to={{ name: 'tool', tool: t.name }}>{t.name}</Link>: version {v.version} (approved: {approved ? approved.version : 'none'})
              </h2>
              <p className="hint">
                From provider <Link to={{ name: 'provider', id: t.provider.id }}>{t.provider.name}</Link>, discovered {when(v.createdAt)}.
              </p>
              <DefinitionDiff approved={(approved?.definition as Record<string, unknown> | undefined) ?? null} pending={v.definition as Record<string, unknown>} />
              <Confirm
                label="Review and approve…"
                ariaLabel={`Review and approve ${t.name} version ${v.version}`}
                confirmLabel={`Approve ${t.name} version ${v.version}`}
                busy={action.busy}
                question={`Approve version ${v.version} of ${t.name}? Calls will use the pending definition shown above from now on.`}
                onConfirm={() => void approveVersion(t.id, t.name, v.version)}
              />
            </article>
          ));
      })}
      <Pager label="Quarantine pages" pages={pages} pageInfo={list.data?.tools.pageInfo} />
    </section>
  );
}

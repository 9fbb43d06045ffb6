import type * as G from '../generated/graphql';
import setToolEnabled from '../operations/setToolEnabled.graphql?raw';
import { Link } from '../router';
import { useSession } from '../session';
import { Outcome, ScrollTable, useAction } from './common';

interface ToolRow {
  id: string;
  name: string;
  enabled: boolean;
  quarantined: boolean;
  status: string;
  version: number;
  provider?: { id: string; name: string };
}

/** A table of tools, each with a button that disables or enables it (a disabled tool cannot be called). */
export function ToolToggle({ tools, onChanged }: { tools: ToolRow[]; onChanged: () => void }) {
  const { call } = useSession();
  const action = useAction();
  const toggle = (tool: ToolRow) =>
    action.run(async () => {
      const data = await call<G.ConsoleSetToolEnabledMutation, G.ConsoleSetToolEnabledMutationVariables>(setToolEnabled, {
        input: { toolId: tool.id, enabled: !tool.enabled },
      });
      const [problem] = data.setToolEnabled.userErrors;
      if (problem) throw new Error(`${problem.message} (${problem.code})`);
      onChanged();
      return `${tool.name} is now ${data.setToolEnabled.tool?.enabled ? 'enabled' : 'disabled'}.`;
    });
  const withProvider = tools.some((t) => t.provider);
  return (
    <>
      <Outcome action={action} />
      <ScrollTable columns={['Tool', ...(withProvider ? ['Provider'] : []), 'Status', 'Version', 'Enabled', <span className="sr-only">Actions</span>]}>
        {tools.map((t) => (
          <tr key={t.id}>
            <td>
              <Link to={{ name: 'tool', tool: t.name }}>{t.name}</Link>
            </td>
            {withProvider && <td>{t.provider && <Link to={{ name: 'provider', id: t.provider.id }}>{t.provider.name}</Link>}</td>}
            <td>
              {t.status.toLowerCase()}
              {t.quarantined && <span className="badge warn">quarantined</span>}
            </td>
            <td>{t.version}</td>
            <td>{t.enabled ? 'yes' : 'no'}</td>
            <td>
              <button type="button" disabled={action.busy} onClick={() => void toggle(t)} aria-label={`${t.enabled ? 'Disable' : 'Enable'} ${t.name}`}>
                {t.enabled ? 'Disable' : 'Enable'}
              </button>
            </td>
          </tr>
        ))}
      </ScrollTable>
    </>
  );
}

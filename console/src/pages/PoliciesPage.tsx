import type * as G from '../generated/graphql';
import deletePolicy from '../operations/deletePolicy.graphql?raw';
import policiesQuery from '../operations/policies.graphql?raw';
import policyFields from '../operations/policyFields.graphql?raw';
import updatePolicy from '../operations/updatePolicy.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { Link } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { Confirm, Outcome, ScrollTable, useAction } from './common';
import { ExplainAccess } from './ExplainAccess';
import { usePrincipals } from './PrincipalPicker';
import { inputOf, type PolicyFields } from './policyInput';

/** The operation with the fragment it spreads. */
const policiesDocument = `${policiesQuery}\n${policyFields}`;

/** Policies, highest priority first: activate or deactivate, delete (after confirming), open to edit; explainAccess beside them. */
export function PoliciesPage() {
  const { call } = useSession();
  const pages = useCursorPages();
  const after = pages.after;
  const list = useLoad(() => call<G.ConsolePoliciesQuery, G.ConsolePoliciesQueryVariables>(policiesDocument, { after }), [call, after]);
  const principals = usePrincipals();
  const action = useAction();

  const setActive = (policy: PolicyFields, active: boolean) =>
    action.run(async () => {
      const data = await call<G.ConsoleUpdatePolicyMutation, G.ConsoleUpdatePolicyMutationVariables>(updatePolicy, {
        input: { id: policy.id, policy: { ...inputOf(policy), active } },
      });
      const [problem] = data.updatePolicy.userErrors;
      if (problem) throw new Error(`${problem.message} (${problem.code})`);
      list.reload();
      return `${policy.name} is now ${active ? 'active' : 'inactive'}.`;
    });
  const remove = (policy: PolicyFields) =>
    action.run(async () => {
      const data = await call<G.ConsoleDeletePolicyMutation, G.ConsoleDeletePolicyMutationVariables>(deletePolicy, { id: policy.id });
      const [problem] = data.deletePolicy.userErrors;
      if (problem) throw new Error(`${problem.message} (${problem.code})`);
      list.reload();
      return `Deleted ${policy.name}.`;
    });

  return (
    <section aria-labelledby="policies-title">
      <h1 id="policies-title">Policies</h1>
      <p>
        <Link to={{ name: 'newPolicy' }}>New policy</Link>
      </p>
      <div className="columns wide-first">
        <div>
          <ErrorMessage error={list.error} />
          <Outcome action={action} />
          <ScrollTable columns={['Priority', 'Name', 'Effect', 'Actions', 'Active', <span className="sr-only">Actions</span>]}>
            {list.data?.policies.edges.map(({ node: p }) => (
              <tr key={p.id}>
                <td>{p.priority}</td>
                <td>
                  <Link to={{ name: 'policy', id: p.id }}>{p.name}</Link>
                  {p.description && <div className="hint">{p.description}</div>}
                </td>
                <td>{p.effect.toLowerCase()}</td>
                <td>{p.actions.map((a) => a.toLowerCase()).join(', ')}</td>
                <td>{p.active ? 'yes' : 'no'}</td>
                <td className="actions">
                  <button type="button" disabled={action.busy} onClick={() => void setActive(p, !p.active)} aria-label={`${p.active ? 'Deactivate' : 'Activate'} ${p.name}`}>
                    {p.active ? 'Deactivate' : 'Activate'}
                  </button>{' '}
                  <Confirm label="Delete…" ariaLabel={`Delete ${p.name}…`} confirmLabel={`Delete ${p.name}`} danger busy={action.busy} question={`Delete the policy ${p.name}?`} onConfirm={() => void remove(p)} />
                </td>
              </tr>
            ))}
          </ScrollTable>
          <Pager label="Policy pages" pages={pages} pageInfo={list.data?.policies.pageInfo} />
        </div>
        <ExplainAccess principals={principals.list} />
      </div>
    </section>
  );
}

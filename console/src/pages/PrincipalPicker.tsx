import type * as G from '../generated/graphql';
import principals from '../operations/principals.graphql?raw';
import { useLoad, useSession } from '../session';

export type PrincipalSummary = G.ConsolePrincipalsQuery['principals']['edges'][number]['node'];

/** The principals an admin may pick from (the first 100 by name), loaded once per view. */
export function usePrincipals() {
  const { call } = useSession();
  const loaded = useLoad(() => call<G.ConsolePrincipalsQuery, G.ConsolePrincipalsQueryVariables>(principals, { first: 100 }), [call]);
  const list = loaded.data?.principals.edges.map((e) => e.node) ?? [];
  return { list, error: loaded.error, nameOf: (id: string) => list.find((p) => p.id === id)?.name };
}

/** A select of principals by name (and client id); `emptyLabel` names the empty choice. */
export function PrincipalPicker(props: { id: string; label: string; value: string; onChange: (id: string) => void; emptyLabel: string; principals: PrincipalSummary[] }) {
  return (
    <>
      <label htmlFor={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        <option value="">{props.emptyLabel}</option>
        {props.principals.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name} ({p.kind.toLowerCase()}
            {p.clientId ? `, ${p.clientId}` : ''}
            {p.status === 'DISABLED' ? ', disabled' : ''})
          </option>
        ))}
      </select>
    </>
  );
}

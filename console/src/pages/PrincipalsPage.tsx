import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import createPrincipal from '../operations/createPrincipal.graphql?raw';
import principals from '../operations/principals.graphql?raw';
import revokeTokens from '../operations/revokeTokens.graphql?raw';
import rotatePrincipalSecret from '../operations/rotatePrincipalSecret.graphql?raw';
import setPrincipalStatus from '../operations/setPrincipalStatus.graphql?raw';
import { setQuery, useAddress } from '../router';
import { useLoad, useSession } from '../session';
import { Pager, useCursorPages } from '../ui';
import { Confirm, FieldError, FieldErrors, invalidProps, listOf, Outcome, ScrollTable, useAction, type UserError, UserErrors, when } from './common';

const ROLES = ['viewer', 'agent', 'publisher', 'policy_admin', 'admin'];
const KINDS: G.PrincipalKind[] = ['USER', 'SERVICE', 'AGENT'];

/** Client credentials just issued: shown once, never again (only their hash is kept). */
function NewSecret({ credentials, onDismiss }: { credentials: { name: string; clientId: string | null; clientSecret: string }; onDismiss: () => void }) {
  return (
    <div role="alert" className="card secret-once" aria-label="New client secret">
      <p>
        <strong>Client secret of {credentials.name}</strong>: copy it now, it is shown only this once.
      </p>
      <dl className="facts">
        <dt>Client id</dt>
        <dd>
          <code>{credentials.clientId}</code>
        </dd>
        <dt>Client secret</dt>
        <dd>
          <code data-testid="new-secret">{credentials.clientSecret}</code>
        </dd>
      </dl>
      <button type="button" onClick={onDismiss}>
        I stored it
      </button>
    </div>
  );
}

/** Principals: create one, rotate its secret (shown once), revoke its tokens, disable or enable it. */
export function PrincipalsPage() {
  const { call } = useSession();
  const { search: query } = useAddress();
  const search = query.get('q') ?? '';
  const status = (query.get('status') ?? '') as G.PrincipalStatus | '';
  const pages = useCursorPages(`${search}|${status}`);
  const after = pages.after;
  const list = useLoad(
    () => call<G.ConsolePrincipalsQuery, G.ConsolePrincipalsQueryVariables>(principals, { first: 50, after, filter: { search: search.trim() || undefined, status: status || undefined } }),
    [call, search, status, after],
  );
  const action = useAction();
  const [secret, setSecret] = useState<{ name: string; clientId: string | null; clientSecret: string } | null>(null);

  const payloadError = (errors: UserError[]) => {
    if (errors[0]) throw new Error(`${errors[0].message} (${errors[0].code})`);
  };
  const rotate = (p: { id: string; name: string }) =>
    action.run(async () => {
      const data = await call<G.ConsoleRotatePrincipalSecretMutation, G.ConsoleRotatePrincipalSecretMutationVariables>(rotatePrincipalSecret, { principalId: p.id });
      payloadError(data.rotatePrincipalSecret.userErrors);
      const r = data.rotatePrincipalSecret;
      if (r.clientSecret) setSecret({ name: p.name, clientId: r.principal?.clientId ?? null, clientSecret: r.clientSecret });
      return `Rotated the secret of ${p.name}; the old one no longer works.`;
    });
  const revoke = (p: { id: string; name: string }) =>
    action.run(async () => {
      const data = await call<G.ConsoleRevokeTokensMutation, G.ConsoleRevokeTokensMutationVariables>(revokeTokens, { principalId: p.id });
      payloadError(data.revokeTokens.userErrors);
      return `Revoked every token of ${p.name} issued up to ${when(data.revokeTokens.revokedAt)}.`;
    });
  const setStatus = (p: { id: string; name: string }, next: G.PrincipalStatus) =>
    action.run(async () => {
      const data = await call<G.ConsoleSetPrincipalStatusMutation, G.ConsoleSetPrincipalStatusMutationVariables>(setPrincipalStatus, { input: { principalId: p.id, status: next } });
      payloadError(data.setPrincipalStatus.userErrors);
      list.reload();
      return `${p.name} is now ${next === 'ACTIVE' ? 'enabled' : 'disabled'}.`;
    });

  return (
    <section aria-labelledby="principals-title">
      <h1 id="principals-title">Principals</h1>
      {secret && <NewSecret credentials={secret} onDismiss={() => setSecret(null)} />}
      <div className="filters" role="search">
        <div>
          <label htmlFor="principal-search">Find principals</label>
          <input id="principal-search" type="search" value={search} onChange={(e) => setQuery({ q: e.target.value }, true)} />
        </div>
        <div>
          <label htmlFor="principal-status">Status</label>
          <select id="principal-status" value={status} onChange={(e) => setQuery({ status: e.target.value }, false)}>
            <option value="">Any</option>
            <option value="ACTIVE">active</option>
            <option value="DISABLED">disabled</option>
          </select>
        </div>
      </div>
      <Outcome action={action} />
      <ErrorMessage error={list.error} />
      <ScrollTable busy={list.loading} columns={['Name', 'Kind', 'Client id', 'Roles', 'Status', 'Created', <span className="sr-only">Actions</span>]}>
        {list.data?.principals.edges.map(({ node: p }) => (
          <tr key={p.id}>
            <td>{p.name}</td>
            <td>{p.kind.toLowerCase()}</td>
            <td>
              <code>{p.clientId ?? '—'}</code>
            </td>
            <td>{[...p.roles, ...p.scopes].join(', ') || '—'}</td>
            <td>{p.status.toLowerCase()}</td>
            <td>{when(p.createdAt)}</td>
            <td className="actions">
              <Confirm
                label="Rotate the secret…"
                ariaLabel={`Rotate the secret of ${p.name}…`}
                confirmLabel={`Rotate the secret of ${p.name}`}
                busy={action.busy}
                question={`Issue a new client secret for ${p.name}? The current one stops working at once.`}
                onConfirm={() => void rotate(p)}
              />{' '}
              <Confirm
                label="Revoke the tokens…"
                ariaLabel={`Revoke the tokens of ${p.name}…`}
                confirmLabel={`Revoke the tokens of ${p.name}`}
                busy={action.busy}
                question={`Revoke every token ${p.name} holds? Its clients must sign in again.`}
                onConfirm={() => void revoke(p)}
              />{' '}
              {p.status === 'ACTIVE' ? (
                <Confirm
                  label="Disable…"
                  ariaLabel={`Disable ${p.name}…`}
                  confirmLabel={`Disable ${p.name}`}
                  danger
                  busy={action.busy}
                  question={`Disable ${p.name}? Its tokens and client credentials are refused at once.`}
                  onConfirm={() => void setStatus(p, 'DISABLED')}
                />
              ) : (
                <button type="button" disabled={action.busy} onClick={() => void setStatus(p, 'ACTIVE')} aria-label={`Enable ${p.name}`}>
                  Enable
                </button>
              )}
            </td>
          </tr>
        ))}
      </ScrollTable>
      <Pager label="Principal pages" pages={pages} pageInfo={list.data?.principals.pageInfo} />
      <CreatePrincipal
        onCreated={(created) => {
          setSecret(created);
          list.reload();
        }}
      />
    </section>
  );
}

function CreatePrincipal({ onCreated }: { onCreated: (credentials: { name: string; clientId: string | null; clientSecret: string }) => void }) {
  const { call } = useSession();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<G.PrincipalKind>('SERVICE');
  const [roles, setRoles] = useState<string[]>(['agent']);
  const [scopes, setScopes] = useState('');
  const [userErrors, setUserErrors] = useState<UserError[]>([]);
  const action = useAction();
  const errors = new FieldErrors(userErrors);

  function submit(event: FormEvent) {
    event.preventDefault();
    void action.run(async () => {
      setUserErrors([]);
      const data = await call<G.ConsoleCreatePrincipalMutation, G.ConsoleCreatePrincipalMutationVariables>(createPrincipal, {
        input: { name: name.trim(), kind, roles, scopes: listOf(scopes) },
      });
      const created = data.createPrincipal;
      if (created.userErrors.length || !created.principal || !created.clientSecret) {
        setUserErrors(created.userErrors);
        return;
      }
      onCreated({ name: created.principal.name, clientId: created.principal.clientId ?? null, clientSecret: created.clientSecret });
      setName('');
      setScopes('');
      return `Created ${created.principal.name}.`;
    });
  }

  const nameError = errors.of('name');
  const rolesError = errors.of('roles');
  const scopesError = errors.of('scopes');
  return (
    <form onSubmit={submit} className="card" noValidate aria-labelledby="create-principal-title">
      <h2 id="create-principal-title">Create a principal</h2>
      <UserErrors errors={errors.others(['name', 'roles', 'scopes'])} />
      <label htmlFor="principal-name">Name</label>
      <input id="principal-name" required value={name} onChange={(e) => setName(e.target.value)} {...invalidProps('principal-name', nameError)} />
      <FieldError id="principal-name" message={nameError} />
      <label htmlFor="principal-kind">Kind</label>
      <select id="principal-kind" value={kind} onChange={(e) => setKind(e.target.value as G.PrincipalKind)}>
        {KINDS.map((k) => (
          <option key={k} value={k}>
            {k.toLowerCase()}
          </option>
        ))}
      </select>
      <fieldset id="principal-roles" {...invalidProps('principal-roles', rolesError)}>
        <legend>Roles</legend>
        {ROLES.map((r) => (
          <label key={r} className="inline">
            <input type="checkbox" checked={roles.includes(r)} onChange={(e) => setRoles(e.target.checked ? [...roles, r] : roles.filter((x) => x !== r))} /> {r}
          </label>
        ))}
      </fieldset>
      <FieldError id="principal-roles" message={rolesError} />
      <label htmlFor="principal-scopes">Extra scopes (comma-separated, optional)</label>
      <input id="principal-scopes" value={scopes} onChange={(e) => setScopes(e.target.value)} {...invalidProps('principal-scopes', scopesError)} />
      <FieldError id="principal-scopes" message={scopesError} />
      <button type="submit" className="primary" disabled={action.busy}>
        Create principal
      </button>
      <Outcome action={action} />
    </form>
  );
}

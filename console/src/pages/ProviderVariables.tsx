import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import providerVariables from '../operations/providerVariables.graphql?raw';
import setProviderVariables from '../operations/setProviderVariables.graphql?raw';
import { useLoad, useSession } from '../session';
import { FieldError, FieldErrors, invalidProps, ScrollTable, type UserError, UserErrors, when } from './common';

/**
 * A provider's variables (and the credentials its manual reads from them): which its tools still
 * need, the ones set (secret values are never returned by the API, so never shown), and a form to
 * set or remove them.
 */
export function ProviderVariables({ providerId }: { providerId: string }) {
  const { call } = useSession();
  const loaded = useLoad(() => call<G.ConsoleProviderVariablesQuery, G.ConsoleProviderVariablesQueryVariables>(providerVariables, { id: providerId }), [call, providerId]);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [secret, setSecret] = useState(true);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [userErrors, setUserErrors] = useState<UserError[]>([]);
  const provider = loaded.data?.provider;
  const errors = new FieldErrors(userErrors);

  async function change(input: { variables?: G.ProviderVariableInput[]; remove?: string[] }, done: string) {
    setError(null);
    setMessage(null);
    setUserErrors([]);
    try {
      const data = await call<G.ConsoleSetProviderVariablesMutation, G.ConsoleSetProviderVariablesMutationVariables>(setProviderVariables, {
        input: { providerId, ...input },
      });
      if (data.setProviderVariables.userErrors.length) {
        setUserErrors(data.setProviderVariables.userErrors);
        return;
      }
      setMessage(done);
      setValue('');
      loaded.reload();
    } catch (e) {
      setError(e);
    }
  }

  function save(event: FormEvent) {
    event.preventDefault();
    // The value leaves the form as soon as it is sent; it is never shown again when secret.
    void change({ variables: [{ name: name.trim(), value, secret }] }, `Saved ${name.trim()}${secret ? ' (secret)' : ''}.`);
  }

  if (!provider) return <ErrorMessage error={loaded.error} />;
  // The API names a variable's field as `variables.0.name` or `name`; either is the name field here.
  const nameError = errors.of('variables.0.name') ?? errors.of('name');
  const valueError = errors.of('variables.0.value') ?? errors.of('value');
  return (
    <section aria-labelledby="variables-title" className="card">
      <h2 id="variables-title">Variables of {provider.name}</h2>
      <p data-testid="missing-variables">
        {provider.missingVariables.length ? `Still needed by its tools: ${provider.missingVariables.join(', ')}` : 'Every variable its tools refer to is set.'}
      </p>
      <ScrollTable columns={['Name', 'Value', 'Updated', <span className="sr-only">Actions</span>]}>
        {provider.variables.map((v) => (
          <tr key={v.name}>
            <td>{v.name}</td>
            <td>{v.secret ? <em>secret (stored in the vault)</em> : v.value}</td>
            <td>{when(v.updatedAt)}</td>
            <td>
              <button type="button" onClick={() => void change({ remove: [v.name] }, `Removed ${v.name}.`)} aria-label={`Remove ${v.name}`}>
                Remove
              </button>
            </td>
          </tr>
        ))}
      </ScrollTable>
      {message && <p role="status">{message}</p>}
      <ErrorMessage error={error} />
      <UserErrors errors={errors.others(['variables.0.name', 'name', 'variables.0.value', 'value'])} />
      <form onSubmit={save} noValidate>
        <label htmlFor="variable-name">Variable name</label>
        <input id="variable-name" required list="missing-variable-names" autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} {...invalidProps('variable-name', nameError)} />
        <FieldError id="variable-name" message={nameError} />
        <datalist id="missing-variable-names">
          {provider.missingVariables.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <label htmlFor="variable-value">Value</label>
        <input id="variable-value" required type={secret ? 'password' : 'text'} autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} {...invalidProps('variable-value', valueError)} />
        <FieldError id="variable-value" message={valueError} />
        <label className="inline">
          <input type="checkbox" checked={secret} onChange={(e) => setSecret(e.target.checked)} /> Secret (kept in the vault, never shown)
        </label>
        <button type="submit" className="primary">
          Set variable
        </button>
      </form>
    </section>
  );
}

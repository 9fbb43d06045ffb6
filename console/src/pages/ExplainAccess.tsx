import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import explainAccess from '../operations/explainAccess.graphql?raw';
import { Link } from '../router';
import { useSession } from '../session';
import { PrincipalPicker, type PrincipalSummary } from './PrincipalPicker';

/** Would a principal be allowed an action on a tool? The deciding policy and why each policy matched or not. */
export function ExplainAccess({ principals }: { principals: PrincipalSummary[] }) {
  const { call } = useSession();
  const [tool, setTool] = useState('');
  const [action, setAction] = useState<G.PolicyAction>('EXECUTE');
  const [principal, setPrincipal] = useState('');
  const [args, setArgs] = useState('');
  const [argsError, setArgsError] = useState<string | null>(null);
  const [answer, setAnswer] = useState<G.ConsoleExplainAccessQuery['explainAccess'] | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function explain(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setAnswer(null);
    setArgsError(null);
    let parsed: unknown;
    try {
      parsed = args.trim() ? JSON.parse(args) : undefined;
    } catch (e) {
      setArgsError(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    try {
      const data = await call<G.ConsoleExplainAccessQuery, G.ConsoleExplainAccessQueryVariables>(explainAccess, {
        tool: tool.trim(),
        action,
        principal: principal || undefined,
        arguments: parsed,
      });
      setAnswer(data.explainAccess);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <section aria-labelledby="explain-title" className="card">
      <h2 id="explain-title">Explain access</h2>
      <form onSubmit={explain}>
        <label htmlFor="explain-tool">Tool</label>
        <input id="explain-tool" required placeholder="weather.get_forecast" value={tool} onChange={(e) => setTool(e.target.value)} />
        <label htmlFor="explain-action">Action</label>
        <select id="explain-action" value={action} onChange={(e) => setAction(e.target.value as G.PolicyAction)}>
          <option value="READ">read</option>
          <option value="EXECUTE">execute</option>
          <option value="ADMIN">admin</option>
        </select>
        <PrincipalPicker id="explain-principal" label="Principal" value={principal} onChange={setPrincipal} emptyLabel="Yourself" principals={principals} />
        <label htmlFor="explain-arguments">Arguments (JSON, optional)</label>
        <textarea
          id="explain-arguments"
          rows={3}
          value={args}
          onChange={(e) => setArgs(e.target.value)}
          aria-invalid={argsError ? true : undefined}
          aria-describedby={argsError ? 'explain-arguments-error' : undefined}
        />
        {argsError && (
          <p id="explain-arguments-error" className="error-inline field-error">
            {argsError}
          </p>
        )}
        <button type="submit" className="primary">
          Explain
        </button>
      </form>
      <ErrorMessage error={error} />
      {answer && (
        <div role="status" data-testid="explanation">
          <p>
            <strong>{answer.allowed ? 'Allowed' : 'Denied'}</strong>: {answer.reason}
            {answer.decidingPolicy && (
              <>
                {' '}
                (deciding policy: <Link to={{ name: 'policy', id: answer.decidingPolicy.id }}>{answer.decidingPolicy.name}</Link>)
              </>
            )}
          </p>
          <ul>
            {answer.evaluations.map((e) => (
              <li key={e.policyId}>
                {e.name}: {e.matched ? 'matched' : 'did not match'}
                {e.applied ? ', applied' : ''} — {e.reasons.join('; ')}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

import type * as G from '../generated/graphql';
import cancelExecution from '../operations/cancelExecution.graphql?raw';
import execution from '../operations/execution.graphql?raw';
import { ErrorMessage } from '../ErrorMessage';
import { Link } from '../router';
import { useLoad, useSession } from '../session';
import { Confirm, Outcome, useAction, when } from './common';

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** One call: its arguments, result or error, the policy decision, timing; a queued or running call can be cancelled. */
export function ExecutionPage({ id }: { id: string }) {
  const { call, session } = useSession();
  const loaded = useLoad(() => call<G.ConsoleExecutionQuery, G.ConsoleExecutionQueryVariables>(execution, { id }), [call, id]);
  const action = useAction();
  const e = loaded.data?.execution;
  const isAdmin = session.roles.includes('admin');

  const cancel = () =>
    action.run(async () => {
      const data = await call<G.ConsoleCancelExecutionMutation, G.ConsoleCancelExecutionMutationVariables>(cancelExecution, { id });
      loaded.reload();
      return `The execution is now ${data.cancelExecution.status.toLowerCase()}.`;
    });

  return (
    <article aria-labelledby="execution-title">
      {isAdmin && (
        <p>
          <Link to={{ name: 'admin', section: 'executions' }}>← Executions</Link>
        </p>
      )}
      <h1 id="execution-title">{e ? `Execution of ${e.toolName}` : 'Execution'}</h1>
      <ErrorMessage error={loaded.error} />
      {loaded.loading && !e && <p>Loading…</p>}
      {loaded.data && !e && <p role="alert">No execution with this id, or you may not see it.</p>}
      {e && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd data-testid="execution-detail-status">{e.status.toLowerCase().replace('_', ' ')}</dd>
            <dt>Tool</dt>
            <dd>
              <Link to={{ name: 'tool', tool: e.toolName }}>{e.toolName}</Link>
            </dd>
            <dt>Principal</dt>
            <dd>{e.principal?.name ?? '—'}</dd>
            <dt>Mode</dt>
            <dd>{e.mode.toLowerCase()}</dd>
            <dt>Created</dt>
            <dd>{when(e.createdAt)}</dd>
            <dt>Started</dt>
            <dd>{when(e.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{when(e.finishedAt)}</dd>
            <dt>Duration</dt>
            <dd>{e.durationMs === null || e.durationMs === undefined ? '—' : `${e.durationMs} ms`}</dd>
            <dt>Attempts</dt>
            <dd>{e.attempts}</dd>
            {e.idempotencyKey && (
              <>
                <dt>Idempotency key</dt>
                <dd>
                  <code>{e.idempotencyKey}</code>
                </dd>
              </>
            )}
            {e.outputValid !== null && e.outputValid !== undefined && (
              <>
                <dt>Output matches the schema</dt>
                <dd>{e.outputValid ? 'yes' : 'no'}</dd>
              </>
            )}
          </dl>
          {(e.status === 'QUEUED' || e.status === 'RUNNING') && (
            <Confirm label="Cancel execution…" confirmLabel="Cancel this execution" danger busy={action.busy} question="Stop this call? The provider may already have acted on it." onConfirm={() => void cancel()} />
          )}
          <Outcome action={action} />
          {e.error && (
            <section aria-labelledby="execution-error-title">
              <h2 id="execution-error-title">Error</h2>
              <p className="error">
                {e.error.message} ({e.error.code})
              </p>
              {e.error.details !== null && e.error.details !== undefined && <pre>{json(e.error.details)}</pre>}
            </section>
          )}
          <section aria-labelledby="execution-arguments-title">
            <h2 id="execution-arguments-title">Arguments</h2>
            <pre>{json(e.arguments)}</pre>
          </section>
          {e.result !== null && e.result !== undefined && (
            <section aria-labelledby="execution-result-title">
              <h2 id="execution-result-title">Result</h2>
              <pre>{json(e.result)}</pre>
            </section>
          )}
          {e.decision !== null && e.decision !== undefined && (
            <details>
              <summary>Policy decision</summary>
              <pre>{json(e.decision)}</pre>
            </details>
          )}
        </>
      )}
    </article>
  );
}

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, subscriptionClient, subscriptionError } from './api';
import { ErrorMessage } from './ErrorMessage';
import type {
  ConsoleExecuteMutation,
  ConsoleExecuteMutationVariables,
  ConsoleExecutionUpdatedSubscription,
  ExecutionStatus,
} from './generated/graphql';
import execute from './operations/execute.graphql?raw';
import executionUpdated from './operations/executionUpdated.graphql?raw';
import { useSession } from './session';
import { validate, type SchemaProblem } from './validate';

type Schema = Record<string, unknown>;
type Execution = ConsoleExecutionUpdatedSubscription['executionUpdated']['execution'];
const DONE: ExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'DENIED', 'CANCELLED', 'TIMED_OUT'];

interface Field {
  name: string;
  schema: Schema;
  required: boolean;
  kind: 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';
}

/** The form's fields: one per property of an object schema; anything else is edited as JSON. */
function fieldsOf(schema: unknown): Field[] | null {
  const s = (schema ?? {}) as Schema;
  if (s.type !== undefined && s.type !== 'object') return null;
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  return Object.entries((s.properties ?? {}) as Record<string, Schema>).map(([name, p]) => ({
    name,
    schema: p,
    required: required.has(name),
    kind: Array.isArray(p.enum) ? 'enum' : p.type === 'string' ? 'text' : p.type === 'number' ? 'number' : p.type === 'integer' ? 'integer' : p.type === 'boolean' ? 'boolean' : 'json',
  }));
}

/** The arguments the inputs describe; a field left empty is omitted. JSON that does not parse is reported by name. */
function argumentsOf(fields: Field[] | null, values: Record<string, string>): { value: unknown; problems: SchemaProblem[] } {
  const problems: SchemaProblem[] = [];
  const parse = (path: string, text: string) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      problems.push({ path, message: 'is not valid JSON' });
      return undefined;
    }
  };
  if (!fields) return { value: parse('/', values[''] ?? 'null'), problems };
  const args: Record<string, unknown> = {};
  for (const f of fields) {
    const raw = values[f.name] ?? '';
    if (f.kind === 'boolean') {
      if (raw) args[f.name] = raw === 'true';
    } else if (raw === '') continue;
    else if (f.kind === 'text') args[f.name] = raw;
    else if (f.kind === 'number' || f.kind === 'integer') args[f.name] = Number(raw);
    else args[f.name] = parse(`/${f.name}`, raw);
  }
  return { value: args, problems };
}

/** A form generated from the input schema, checked in the browser, executed, and followed live. */
export function TryIt({ tool, schema, disabled }: { tool: string; schema: unknown; disabled: boolean }) {
  const { call, session } = useSession();
  const fields = fieldsOf(schema);
  const [values, setValues] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<SchemaProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [execution, setExecution] = useState<Execution | null>(null);
  const [chunks, setChunks] = useState<unknown[]>([]);
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => () => stop.current?.(), []);

  function follow(id: string) {
    const client = subscriptionClient(session.token);
    const unsubscribe = client.subscribe<ConsoleExecutionUpdatedSubscription>(
      { query: executionUpdated, variables: { id } },
      {
        next: ({ data, errors }) => {
          if (errors?.[0]) setError(subscriptionError(errors));
          if (!data) return;
          setExecution(data.executionUpdated.execution);
          if (data.executionUpdated.chunk != null) setChunks((c) => [...c, data.executionUpdated.chunk]);
        },
        error: (e) => setError(subscriptionError(e)),
        complete: () => void client.dispose(),
      },
    );
    stop.current = () => {
      unsubscribe();
      void client.dispose();
    };
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    stop.current?.();
    setError(null);
    setChunks([]);
    setExecution(null);
    const { value, problems: parsing } = argumentsOf(fields, values);
    const found = parsing.length ? parsing : validate(schema, value);
    setProblems(found);
    if (found.length) return;
    try {
      const data = await call<ConsoleExecuteMutation, ConsoleExecuteMutationVariables>(execute, { input: { tool, arguments: value, mode: 'ASYNC' } });
      setExecution({ ...data.executeTool, outputValid: null });
      if (!DONE.includes(data.executeTool.status)) follow(data.executeTool.id);
    } catch (e) {
      setError(e);
    }
  }

  const set = (name: string, value: string) => setValues((v) => ({ ...v, [name]: value }));
  const running = execution !== null && !DONE.includes(execution.status);

  return (
    <section aria-labelledby="try-title" className="card">
      <h2 id="try-title">Try it</h2>
      {disabled && <p className="hint">This tool cannot be called now (disabled, or quarantined until an admin approves it).</p>}
      <form onSubmit={submit} noValidate>
        {fields === null ? (
          <>
            <label htmlFor="arg-json">Arguments (JSON)</label>
            <textarea id="arg-json" rows={4} value={values[''] ?? ''} onChange={(e) => set('', e.target.value)} />
          </>
        ) : fields.length === 0 ? (
          <p className="hint">This tool takes no arguments.</p>
        ) : (
          fields.map((f) => {
            const id = `arg-${f.name}`;
            const label = (
              <label htmlFor={id}>
                {f.name}
                {f.required && <span aria-hidden="true"> *</span>}
                {f.required && <span className="sr-only"> (required)</span>}
                {typeof f.schema.description === 'string' && <span className="hint"> — {f.schema.description}</span>}
              </label>
            );
            const invalid = problems.some((p) => p.path === `/${f.name}`);
            const common = { id, 'aria-invalid': invalid || undefined, value: values[f.name] ?? '' };
            return (
              <div key={f.name} className="field">
                {label}
                {f.kind === 'enum' || f.kind === 'boolean' ? (
                  <select {...common} onChange={(e) => set(f.name, e.target.value)}>
                    <option value="">—</option>
                    {(f.kind === 'boolean' ? [true, false] : (f.schema.enum as unknown[])).map((o) => (
                      <option key={String(o)} value={String(o)}>
                        {String(o)}
                      </option>
                    ))}
                  </select>
                ) : f.kind === 'json' ? (
                  <textarea {...common} rows={3} placeholder="JSON" onChange={(e) => set(f.name, e.target.value)} />
                ) : (
                  <input {...common} type={f.kind === 'text' ? 'text' : 'number'} step={f.kind === 'integer' ? 1 : 'any'} onChange={(e) => set(f.name, e.target.value)} />
                )}
              </div>
            );
          })
        )}
        {problems.length > 0 && (
          <div role="alert" className="error">
            <p>The arguments do not match the tool's input schema:</p>
            <ul>
              {problems.map((p) => (
                <li key={p.path + p.message}>
                  <code>{p.path}</code> {p.message}
                </li>
              ))}
            </ul>
          </div>
        )}
        <button type="submit" className="primary" disabled={disabled || running}>
          {running ? 'Running…' : 'Execute'}
        </button>
      </form>
      <ErrorMessage error={error} />
      {execution && (
        <div className="result" aria-live="polite">
          <p>
            Status: <strong data-testid="execution-status">{execution.status}</strong>
            {execution.durationMs != null && ` in ${execution.durationMs} ms`}
          </p>
          {chunks.length > 0 && (
            <>
              <h3>Streamed output</h3>
              <pre>{chunks.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))).join('\n')}</pre>
            </>
          )}
          {execution.error && <ErrorMessage error={new ApiError(execution.error.message, execution.error.code, execution.error.details)} />}
          {execution.result !== null && execution.result !== undefined && (
            <>
              <h3>Result</h3>
              <pre data-testid="execution-result">{typeof execution.result === 'string' ? execution.result : JSON.stringify(execution.result, null, 2)}</pre>
            </>
          )}
        </div>
      )}
    </section>
  );
}

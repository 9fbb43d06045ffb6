import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, subscriptionClient, subscriptionError } from './api';
import { ErrorMessage } from './ErrorMessage';
import type {
  ConsoleCancelExecutionMutation,
  ConsoleCancelExecutionMutationVariables,
  ConsoleExecuteMutation,
  ConsoleExecuteMutationVariables,
  ConsoleExecutionUpdatedSubscription,
  ExecutionStatus,
} from './generated/graphql';
import cancelExecution from './operations/cancelExecution.graphql?raw';
import execute from './operations/execute.graphql?raw';
import executionUpdated from './operations/executionUpdated.graphql?raw';
import { useSession } from './session';
import { asCurl, asGraphQL } from './requestText';
import { ErrorSummary, FormField, type FormProblem } from './ui';
import { limitsOf, validate, type SchemaProblem } from './validate';

type Schema = Record<string, unknown>;
type Execution = ConsoleExecutionUpdatedSubscription['executionUpdated']['execution'];
const DONE: ExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'DENIED', 'CANCELLED', 'TIMED_OUT'];
const JSON_ID = 'arg-json';

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

const fieldId = (name: string) => `arg-${name}`;

/** The arguments the form's inputs describe (a field left empty is omitted), over `extra` (values the form has no field for). */
function argumentsOf(fields: Field[], values: Record<string, string>, extra: Record<string, unknown>): { value: Record<string, unknown>; problems: SchemaProblem[] } {
  const problems: SchemaProblem[] = [];
  const args: Record<string, unknown> = { ...extra };
  for (const f of fields) {
    const raw = values[f.name] ?? '';
    if (raw === '') continue;
    if (f.kind === 'boolean') args[f.name] = raw === 'true';
    else if (f.kind === 'text') args[f.name] = raw;
    else if (f.kind === 'number' || f.kind === 'integer') args[f.name] = Number(raw);
    else if (f.kind === 'enum') args[f.name] = (f.schema.enum as unknown[]).find((o) => String(o) === raw);
    else {
      try {
        args[f.name] = JSON.parse(raw) as unknown;
      } catch {
        problems.push({ path: `/${f.name}`, message: 'is not valid JSON' });
      }
    }
  }
  return { value: args, problems };
}

/** The form's inputs for a JSON object; a value the form cannot show in its field is kept in `extra`. */
function valuesOf(fields: Field[], args: Record<string, unknown>): { values: Record<string, string>; extra: Record<string, unknown> } {
  const values: Record<string, string> = {};
  const extra: Record<string, unknown> = { ...args };
  for (const f of fields) {
    if (!(f.name in args)) continue;
    const v = args[f.name];
    const fits =
      f.kind === 'json' ||
      (f.kind === 'text' && typeof v === 'string') ||
      ((f.kind === 'number' || f.kind === 'integer') && typeof v === 'number') ||
      (f.kind === 'boolean' && typeof v === 'boolean') ||
      (f.kind === 'enum' && (f.schema.enum as unknown[]).some((o) => o === v));
    if (!fits) continue;
    values[f.name] = f.kind === 'json' ? JSON.stringify(v, null, 2) : String(v);
    delete extra[f.name];
  }
  return { values, extra };
}

function parseJson(text: string): { value?: unknown; problem?: SchemaProblem } {
  if (text.trim() === '') return { value: {} };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { problem: { path: '/', message: `is not valid JSON (${(e as Error).message})` } };
  }
}

/**
 * A tool's Try-it panel: a form generated from the input schema (each field with its default and
 * limits) or the arguments as raw JSON, checked in the browser, sent (or sent anyway, to see the
 * registry's own verdict), followed live, cancellable, and copyable as curl or GraphQL.
 */
export function TryIt(props: { tool: string; schema: unknown; disabled: boolean }) {
  // Another tool starts from an empty form.
  return <TryItPanel key={props.tool} {...props} />;
}

function TryItPanel({ tool, schema, disabled }: { tool: string; schema: unknown; disabled: boolean }) {
  const { call, session } = useSession();
  const fields = fieldsOf(schema);
  const [mode, setMode] = useState<'form' | 'json'>(fields === null ? 'json' : 'form');
  const [values, setValues] = useState<Record<string, string>>({});
  const [extra, setExtra] = useState<Record<string, unknown>>({});
  const [json, setJson] = useState('');
  const [problems, setProblems] = useState<SchemaProblem[]>([]);
  /** Whether the problems shown are the schema's verdict on parsed arguments (then they may be sent anyway). */
  const [checked, setChecked] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [execution, setExecution] = useState<Execution | null>(null);
  const [chunks, setChunks] = useState<unknown[]>([]);
  const [copy, setCopy] = useState<{ kind: string; text: string; copied: boolean } | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => () => stop.current?.(), []);

  /** The arguments as they stand in the current mode, or why they cannot be read. */
  function current(): { value?: unknown; problems: SchemaProblem[] } {
    if (mode === 'json' || fields === null) {
      const { value, problem } = parseJson(json);
      return problem ? { problems: [problem] } : { value, problems: [] };
    }
    return argumentsOf(fields, values, extra);
  }

  function show(found: SchemaProblem[], schemaVerdict: boolean) {
    setProblems(found);
    setChecked(schemaVerdict && found.length > 0);
    setAttempt((n) => n + 1);
  }

  function switchTo(next: 'form' | 'json') {
    if (next === mode || fields === null) return;
    if (next === 'json') {
      const { value, problems: unreadable } = argumentsOf(fields, values, extra);
      if (unreadable.length) return show(unreadable, false);
      setJson(JSON.stringify(value, null, 2));
    } else {
      const { value, problem } = parseJson(json);
      if (problem) return show([problem], false);
      if (!value || typeof value !== 'object' || Array.isArray(value)) return show([{ path: '/', message: 'must be a JSON object to be edited as a form' }], false);
      const split = valuesOf(fields, value as Record<string, unknown>);
      setValues(split.values);
      setExtra(split.extra);
    }
    setProblems([]);
    setChecked(false);
    setMode(next);
  }

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

  async function send(force: boolean) {
    const { value, problems: unreadable } = current();
    if (unreadable.length) return show(unreadable, false);
    const found = validate(schema, value);
    show(found, true);
    if (found.length && !force) return;
    stop.current?.();
    setError(null);
    setChunks([]);
    setExecution(null);
    try {
      const data = await call<ConsoleExecuteMutation, ConsoleExecuteMutationVariables>(execute, { input: { tool, arguments: value, mode: 'ASYNC' } });
      setExecution({ ...data.executeTool, outputValid: null });
      if (!DONE.includes(data.executeTool.status)) follow(data.executeTool.id);
    } catch (e) {
      setError(e);
    }
  }

  async function cancel() {
    if (!execution) return;
    setCancelling(true);
    try {
      const data = await call<ConsoleCancelExecutionMutation, ConsoleCancelExecutionMutationVariables>(cancelExecution, { id: execution.id });
      setExecution(data.cancelExecution);
    } catch (e) {
      setError(e);
    } finally {
      setCancelling(false);
    }
  }

  async function copyAs(kind: 'curl' | 'GraphQL') {
    const { value, problems: unreadable } = current();
    if (unreadable.length) return show(unreadable, false);
    const text = kind === 'curl' ? asCurl(location.origin, tool, value) : asGraphQL(tool, value);
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard (permission, insecure origin): the text is shown to select by hand.
    }
    setCopy({ kind, text, copied });
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    void send(false);
  }

  const set = (name: string, value: string) => setValues((v) => ({ ...v, [name]: value }));
  const running = execution !== null && !DONE.includes(execution.status);
  const errorOf = (name: string) =>
    problems
      .filter((p) => p.path === `/${name}` || p.path.startsWith(`/${name}/`))
      .map((p) => (p.path === `/${name}` ? p.message : `${p.path.slice(name.length + 2)}: ${p.message}`))
      .join('; ') || null;
  const summary: FormProblem[] = problems.map((p) => {
    const name = p.path.split('/')[1] ?? '';
    const inForm = mode === 'form' && fields?.some((f) => f.name === name);
    return { fieldId: inForm ? fieldId(name) : mode === 'json' || fields === null ? JSON_ID : undefined, label: <code>{p.path}</code>, message: p.message };
  });
  const extraNames = Object.keys(extra);

  return (
    <section aria-labelledby="try-title" className="card">
      <h2 id="try-title">Try it</h2>
      {disabled && <p className="hint">This tool cannot be called now (disabled, or quarantined until an admin approves it).</p>}
      {fields !== null && (
        <div className="tabs" role="group" aria-label="Edit the arguments">
          <button type="button" aria-pressed={mode === 'form'} onClick={() => switchTo('form')}>
            Form
          </button>
          <button type="button" aria-pressed={mode === 'json'} onClick={() => switchTo('json')}>
            JSON
          </button>
        </div>
      )}
      <form onSubmit={submit} noValidate aria-label={`Arguments of ${tool}`}>
        {mode === 'json' || fields === null ? (
          <FormField
            id={JSON_ID}
            label="Arguments (JSON)"
            description="Checked against the tool's input schema when you execute."
            error={problems.length ? problems.map((p) => `${p.path} ${p.message}`).join('; ') : null}
          >
            {(control) => <textarea {...control} className="code" rows={8} spellCheck={false} value={json} onChange={(e) => setJson(e.target.value)} />}
          </FormField>
        ) : fields.length === 0 ? (
          <p className="hint">This tool takes no arguments.</p>
        ) : (
          fields.map((f) => (
            <FormField
              key={f.name}
              id={fieldId(f.name)}
              label={f.name}
              required={f.required}
              description={typeof f.schema.description === 'string' ? f.schema.description : undefined}
              limits={limitsOf(f.schema)}
              error={errorOf(f.name)}
            >
              {(control) =>
                f.kind === 'enum' || f.kind === 'boolean' ? (
                  <select {...control} value={values[f.name] ?? ''} onChange={(e) => set(f.name, e.target.value)}>
                    <option value="">—</option>
                    {(f.kind === 'boolean' ? [true, false] : (f.schema.enum as unknown[])).map((o) => (
                      <option key={String(o)} value={String(o)}>
                        {String(o)}
                      </option>
                    ))}
                  </select>
                ) : f.kind === 'json' ? (
                  <textarea {...control} className="code" rows={3} placeholder="JSON" spellCheck={false} value={values[f.name] ?? ''} onChange={(e) => set(f.name, e.target.value)} />
                ) : (
                  <input
                    {...control}
                    type={f.kind === 'text' ? 'text' : 'number'}
                    step={f.kind === 'integer' ? 1 : 'any'}
                    placeholder={'default' in f.schema ? String(f.schema.default) : undefined}
                    value={values[f.name] ?? ''}
                    onChange={(e) => set(f.name, e.target.value)}
                  />
                )
              }
            </FormField>
          ))
        )}
        {mode === 'form' && extraNames.length > 0 && (
          <p className="hint">
            Also sent, from the JSON: {extraNames.join(', ')} (the input schema has no field for {extraNames.length === 1 ? 'it' : 'them'} or the value is of another type; edit as JSON).
          </p>
        )}
        <ErrorSummary title="The arguments do not match the tool's input schema:" problems={summary} focusKey={attempt}>
          {checked && (
            <p>
              The registry checks them too.{' '}
              <button type="button" onClick={() => void send(true)} disabled={disabled || running}>
                Send anyway
              </button>
            </p>
          )}
        </ErrorSummary>
        <div className="actions">
          <button type="submit" className="primary" disabled={disabled || running}>
            {running ? 'Running…' : 'Execute'}
          </button>
          {running && (
            <button type="button" onClick={() => void cancel()} disabled={cancelling}>
              {cancelling ? 'Cancelling…' : 'Cancel'}
            </button>
          )}
          <button type="button" onClick={() => void copyAs('curl')}>
            Copy as curl
          </button>
          <button type="button" onClick={() => void copyAs('GraphQL')}>
            Copy as GraphQL
          </button>
        </div>
      </form>
      {copy && (
        <div className="copied">
          <p role="status">
            {copy.copied ? `Copied as ${copy.kind}.` : `Copy the ${copy.kind} request below.`}
            {copy.kind === 'curl' && ' Set TOKEN to an access token first; your own token is not included.'}
          </p>
          <pre data-testid="copied-request" tabIndex={0} aria-label={`The request as ${copy.kind}`}>
            {copy.text}
          </pre>
        </div>
      )}
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
              <pre tabIndex={0}>{chunks.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))).join('\n')}</pre>
            </>
          )}
          {execution.error && <ErrorMessage error={new ApiError(execution.error.message, execution.error.code, execution.error.details)} />}
          {execution.result !== null && execution.result !== undefined && (
            <>
              <h3>Result</h3>
              <pre data-testid="execution-result" tabIndex={0}>
                {typeof execution.result === 'string' ? execution.result : JSON.stringify(execution.result, null, 2)}
              </pre>
            </>
          )}
        </div>
      )}
    </section>
  );
}

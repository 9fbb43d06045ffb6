import { useEffect, useState, type FormEvent } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import type * as G from '../generated/graphql';
import createPolicy from '../operations/createPolicy.graphql?raw';
import deletePolicy from '../operations/deletePolicy.graphql?raw';
import policyQuery from '../operations/policy.graphql?raw';
import policyFields from '../operations/policyFields.graphql?raw';
import updatePolicy from '../operations/updatePolicy.graphql?raw';
import { Link, navigate } from '../router';
import { useLoad, useSession } from '../session';
import { Confirm, FieldError, FieldErrors, invalidProps, listOf, Outcome, useAction, UserErrors, when, type UserError } from './common';
import { ExplainAccess } from './ExplainAccess';
import { usePrincipals, type PrincipalSummary } from './PrincipalPicker';
import { inputOf, NEW_POLICY, parsePolicyInput } from './policyInput';

const ACTIONS: G.PolicyAction[] = ['READ', 'EXECUTE', 'ADMIN'];
/** The operation with the fragment it spreads. */
const policyDocument = `${policyQuery}\n${policyFields}`;

/** Form fields whose server errors are shown next to them; errors about other fields are listed above the form. */
const FIELDS = ['name', 'description', 'priority', 'actions', 'subjects', 'resources', 'conditions.sourceCidrs', 'conditions.arguments', 'conditions.timeWindows', 'limits'];

/** A policy to create (`id` null) or edit, as a form or as JSON; saved, activated, deleted; explainAccess beside it. */
export function PolicyPage({ id }: { id: string | null }) {
  const { call } = useSession();
  const loaded = useLoad(
    () => (id ? call<G.ConsolePolicyQuery, G.ConsolePolicyQueryVariables>(policyDocument, { id }) : Promise.resolve({ policy: null })),
    [call, id],
  );
  const principals = usePrincipals();
  const [draft, setDraft] = useState<G.PolicyInput | null>(id ? null : NEW_POLICY);
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [json, setJson] = useState('');
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [userErrors, setUserErrors] = useState<UserError[]>([]);
  const action = useAction();
  const stored = loaded.data?.policy ?? null;

  useEffect(() => {
    if (stored) setDraft(inputOf(stored));
  }, [stored]);

  function toJson() {
    setJson(JSON.stringify(draft, null, 2));
    setJsonError(null);
    setMode('json');
  }
  /** The draft as the JSON text says, or null (with the reason shown) when the text is not a policy. */
  function fromJson(): G.PolicyInput | null {
    try {
      const parsed = parsePolicyInput(json);
      setJsonError(null);
      return parsed;
    } catch (e) {
      setJsonError(e instanceof SyntaxError ? `Not valid JSON: ${e.message}` : (e as Error).message);
      return null;
    }
  }
  function toForm() {
    const parsed = fromJson();
    if (!parsed) return;
    setDraft(parsed);
    setMode('form');
  }

  function save(event: FormEvent) {
    event.preventDefault();
    const input = mode === 'json' ? fromJson() : draft;
    if (!input) return;
    if (mode === 'json') setDraft(input);
    void action.run(async () => {
      setUserErrors([]);
      if (id) {
        const data = await call<G.ConsoleUpdatePolicyMutation, G.ConsoleUpdatePolicyMutationVariables>(updatePolicy, { input: { id, policy: input } });
        if (data.updatePolicy.userErrors.length) {
          setUserErrors(data.updatePolicy.userErrors);
          return;
        }
        loaded.reload();
        return `Saved ${input.name}.`;
      }
      const data = await call<G.ConsoleCreatePolicyMutation, G.ConsoleCreatePolicyMutationVariables>(createPolicy, { input });
      if (data.createPolicy.userErrors.length || !data.createPolicy.policy) {
        setUserErrors(data.createPolicy.userErrors);
        return;
      }
      navigate({ name: 'policy', id: data.createPolicy.policy.id }, { replace: true });
    });
  }

  const remove = () =>
    action.run(async () => {
      const data = await call<G.ConsoleDeletePolicyMutation, G.ConsoleDeletePolicyMutationVariables>(deletePolicy, { id: id! });
      if (data.deletePolicy.userErrors.length) {
        setUserErrors(data.deletePolicy.userErrors);
        return;
      }
      navigate({ name: 'admin', section: 'policies' });
    });

  const errors = new FieldErrors(userErrors);
  const title = id ? `Policy ${stored?.name ?? ''}`.trim() : 'New policy';
  return (
    <article aria-labelledby="policy-title">
      <p>
        <Link to={{ name: 'admin', section: 'policies' }}>← Policies</Link>
      </p>
      <h1 id="policy-title">{title}</h1>
      <ErrorMessage error={loaded.error} />
      {id && loaded.data && !stored && <p role="alert">No policy with this id.</p>}
      {stored && (
        <p className="hint">
          Created {when(stored.createdAt)}, updated {when(stored.updatedAt)}.
        </p>
      )}
      {draft && (
        <div className="columns wide-first">
          <form onSubmit={save} className="card" noValidate aria-label={id ? 'Edit policy' : 'Create policy'}>
            <div className="tabs" role="group" aria-label="Edit as">
              <button type="button" aria-pressed={mode === 'form'} onClick={() => mode === 'json' && toForm()}>
                Form
              </button>
              <button type="button" aria-pressed={mode === 'json'} onClick={() => mode === 'form' && toJson()}>
                JSON
              </button>
            </div>
            <UserErrors errors={mode === 'json' ? userErrors : errors.others(FIELDS).filter((e) => !FIELDS.some((f) => e.field.join('.').startsWith(`${f}.`)))} />
            {mode === 'json' ? (
              <>
                <label htmlFor="policy-json">Policy (JSON, the fields of PolicyInput)</label>
                <textarea
                  id="policy-json"
                  rows={24}
                  spellCheck={false}
                  value={json}
                  onChange={(e) => setJson(e.target.value)}
                  {...invalidProps('policy-json', jsonError ?? undefined)}
                />
                <FieldError id="policy-json" message={jsonError ?? undefined} />
              </>
            ) : (
              <PolicyForm draft={draft} onChange={setDraft} errors={errors} principals={principals.list} />
            )}
            <button type="submit" className="primary" disabled={action.busy}>
              {id ? 'Save policy' : 'Create policy'}
            </button>
          </form>
          <ExplainAccess principals={principals.list} />
        </div>
      )}
      <Outcome action={action} />
      {id && stored && (
        <Confirm label="Delete policy…" confirmLabel={`Delete ${stored.name}`} danger busy={action.busy} question={`Delete the policy ${stored.name}? Policies that inherit from it must change their parent first.`} onConfirm={() => void remove()} />
      )}
    </article>
  );
}

/** Text for a list field, and the list back from it. */
const joined = (list: readonly string[] | null | undefined) => (list ?? []).join(', ');
const optionalList = (text: string) => {
  const items = listOf(text);
  return items.length ? items : undefined;
};

function PolicyForm({ draft, onChange, errors, principals }: { draft: G.PolicyInput; onChange: (next: G.PolicyInput) => void; errors: FieldErrors; principals: PrincipalSummary[] }) {
  const set = (patch: Partial<G.PolicyInput>) => onChange({ ...draft, ...patch });
  const subjects = draft.subjects ?? {};
  const resources = draft.resources ?? {};
  const conditions = draft.conditions ?? {};
  const limits = draft.limits ?? {};
  const chosen = new Set(subjects.principals ?? []);
  // Text fields for JSON parts keep what the person typed until it parses.
  const [argumentsText, setArgumentsText] = useState(conditions.arguments === undefined || conditions.arguments === null ? '' : JSON.stringify(conditions.arguments, null, 2));
  const [argumentsError, setArgumentsError] = useState<string | undefined>();
  const [windowsText, setWindowsText] = useState(conditions.timeWindows ? JSON.stringify(conditions.timeWindows, null, 2) : '');
  const [windowsError, setWindowsError] = useState<string | undefined>();

  function jsonField(text: string, apply: (value: unknown) => void, fail: (message: string | undefined) => void) {
    if (!text.trim()) {
      fail(undefined);
      apply(undefined);
      return;
    }
    try {
      apply(JSON.parse(text));
      fail(undefined);
    } catch (e) {
      fail(`Not valid JSON: ${(e as Error).message}`);
    }
  }

  const field = (id: string, key: string, nested = false) => {
    const message = nested ? errors.under(key) : errors.of(key);
    return { message, props: invalidProps(id, message) };
  };
  const name = field('policy-name', 'name');
  const description = field('policy-description', 'description');
  const priority = field('policy-priority', 'priority');
  const actions = field('policy-actions', 'actions');
  const subjectErrors = field('policy-roles', 'subjects', true);
  const resourceErrors = field('policy-tools', 'resources', true);
  const cidrs = field('policy-cidrs', 'conditions.sourceCidrs', true);
  const args = errors.under('conditions.arguments') ?? argumentsError;
  const windows = errors.under('conditions.timeWindows') ?? windowsError;
  const limitErrors = field('policy-rate-calls', 'limits', true);

  return (
    <>
      <label htmlFor="policy-name">Name</label>
      <input id="policy-name" required value={draft.name} onChange={(e) => set({ name: e.target.value })} {...name.props} />
      <FieldError id="policy-name" message={name.message} />
      <label htmlFor="policy-description">Description</label>
      <input id="policy-description" value={draft.description ?? ''} onChange={(e) => set({ description: e.target.value })} {...description.props} />
      <FieldError id="policy-description" message={description.message} />
      <label htmlFor="policy-effect">Effect</label>
      <select id="policy-effect" value={draft.effect} onChange={(e) => set({ effect: e.target.value as G.PolicyEffect })}>
        <option value="ALLOW">allow</option>
        <option value="DENY">deny</option>
      </select>
      <label htmlFor="policy-priority">Priority (higher first)</label>
      <input
        id="policy-priority"
        type="number"
        inputMode="numeric"
        value={draft.priority ?? ''}
        onChange={(e) => set({ priority: e.target.value === '' ? undefined : Number(e.target.value) })}
        {...priority.props}
      />
      <FieldError id="policy-priority" message={priority.message} />
      <fieldset id="policy-actions" {...actions.props}>
        <legend>Actions</legend>
        {ACTIONS.map((a) => (
          <label key={a} className="inline">
            <input
              type="checkbox"
              checked={draft.actions.includes(a)}
              onChange={(e) => set({ actions: e.target.checked ? [...draft.actions, a] : draft.actions.filter((x) => x !== a) })}
            />{' '}
            {a.toLowerCase()}
          </label>
        ))}
      </fieldset>
      <FieldError id="policy-actions" message={actions.message} />
      <label className="inline">
        <input type="checkbox" checked={draft.active ?? true} onChange={(e) => set({ active: e.target.checked })} /> Active
      </label>

      <fieldset>
        <legend>Who (subjects; none: everyone)</legend>
        <label htmlFor="policy-roles">Roles (comma-separated)</label>
        <input id="policy-roles" value={joined(subjects.roles)} onChange={(e) => set({ subjects: { ...subjects, roles: optionalList(e.target.value) } })} {...subjectErrors.props} />
        <FieldError id="policy-roles" message={subjectErrors.message} />
        <div role="group" aria-label="Principals" className="checklist">
          {principals.map((p) => (
            <label key={p.id} className="inline">
              <input
                type="checkbox"
                checked={chosen.has(p.id)}
                onChange={(e) => {
                  const next = e.target.checked ? [...chosen, p.id] : [...chosen].filter((x) => x !== p.id);
                  set({ subjects: { ...subjects, principals: next.length ? next : undefined } });
                }}
              />{' '}
              {p.name}
            </label>
          ))}
        </div>
      </fieldset>

      <fieldset>
        <legend>What (resources; none: every tool)</legend>
        <label htmlFor="policy-tools">Tools (names or patterns such as weather.*)</label>
        <input id="policy-tools" value={joined(resources.tools)} onChange={(e) => set({ resources: { ...resources, tools: optionalList(e.target.value) } })} {...resourceErrors.props} />
        <FieldError id="policy-tools" message={resourceErrors.message} />
        <label htmlFor="policy-providers">Providers</label>
        <input id="policy-providers" value={joined(resources.providers)} onChange={(e) => set({ resources: { ...resources, providers: optionalList(e.target.value) } })} />
        <label htmlFor="policy-tags">Tags</label>
        <input id="policy-tags" value={joined(resources.tags)} onChange={(e) => set({ resources: { ...resources, tags: optionalList(e.target.value) } })} />
      </fieldset>

      <fieldset>
        <legend>When (conditions)</legend>
        <label htmlFor="policy-cidrs">Source networks (CIDRs, comma-separated)</label>
        <input id="policy-cidrs" value={joined(conditions.sourceCidrs)} onChange={(e) => set({ conditions: { ...conditions, sourceCidrs: optionalList(e.target.value) } })} {...cidrs.props} />
        <FieldError id="policy-cidrs" message={cidrs.message} />
        <label htmlFor="policy-arguments">Arguments (a JSON Schema the call's arguments must match)</label>
        <textarea
          id="policy-arguments"
          rows={4}
          spellCheck={false}
          value={argumentsText}
          onChange={(e) => {
            setArgumentsText(e.target.value);
            jsonField(e.target.value, (v) => set({ conditions: { ...conditions, arguments: v } }), setArgumentsError);
          }}
          {...invalidProps('policy-arguments', args)}
        />
        <FieldError id="policy-arguments" message={args} />
        <label htmlFor="policy-windows">Time windows (JSON list of {'{ days, from, to, timeZone }'})</label>
        <textarea
          id="policy-windows"
          rows={3}
          spellCheck={false}
          value={windowsText}
          onChange={(e) => {
            setWindowsText(e.target.value);
            jsonField(e.target.value, (v) => set({ conditions: { ...conditions, timeWindows: v as G.PolicyTimeWindowInput[] | undefined } }), setWindowsError);
          }}
          {...invalidProps('policy-windows', windows)}
        />
        <FieldError id="policy-windows" message={windows} />
      </fieldset>

      <fieldset>
        <legend>Limits</legend>
        <label htmlFor="policy-rate-calls">Rate: calls</label>
        <input
          id="policy-rate-calls"
          type="number"
          value={limits.rate?.calls ?? ''}
          onChange={(e) =>
            set({ limits: { ...limits, rate: e.target.value === '' ? undefined : { calls: Number(e.target.value), windowSeconds: limits.rate?.windowSeconds ?? 60 } } })
          }
          {...limitErrors.props}
        />
        <label htmlFor="policy-rate-window">Rate: per seconds</label>
        <input
          id="policy-rate-window"
          type="number"
          disabled={!limits.rate}
          value={limits.rate?.windowSeconds ?? ''}
          onChange={(e) => limits.rate && set({ limits: { ...limits, rate: { ...limits.rate, windowSeconds: Number(e.target.value) } } })}
        />
        <label htmlFor="policy-quota-calls">Quota: calls</label>
        <input
          id="policy-quota-calls"
          type="number"
          value={limits.quota?.calls ?? ''}
          onChange={(e) => set({ limits: { ...limits, quota: e.target.value === '' ? undefined : { calls: Number(e.target.value), period: limits.quota?.period ?? 'DAY' } } })}
        />
        <label htmlFor="policy-quota-period">Quota: per</label>
        <select
          id="policy-quota-period"
          disabled={!limits.quota}
          value={limits.quota?.period ?? 'DAY'}
          onChange={(e) => limits.quota && set({ limits: { ...limits, quota: { ...limits.quota, period: e.target.value as G.QuotaPeriod } } })}
        >
          <option value="DAY">day</option>
          <option value="MONTH">month</option>
        </select>
        <FieldError id="policy-rate-calls" message={limitErrors.message} />
      </fieldset>
    </>
  );
}

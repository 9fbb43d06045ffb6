import { useCallback, useState, type ReactNode } from 'react';
import { ErrorMessage } from '../ErrorMessage';
import { Table } from '../ui';

/** A mutation's expected failure, as every payload of the API reports it. */
export interface UserError {
  field: string[];
  message: string;
  code: string;
}

/** The userErrors of a payload, by the field they concern (`limits.rate.windowSeconds`); `''` for the rest. */
export class FieldErrors {
  constructor(readonly all: readonly UserError[] = []) {}
  /** The message of the first error about `field`, if any. */
  of(field: string): string | undefined {
    return this.all.find((e) => e.field.join('.') === field)?.message;
  }
  /** The message of the first error about `prefix` or a field inside it (`limits` covers `limits.rate.calls`). */
  under(prefix: string): string | undefined {
    return this.all.find((e) => {
      const field = e.field.join('.');
      return field === prefix || field.startsWith(`${prefix}.`);
    })?.message;
  }
  /** Errors about none of `known` fields (shown above the form). */
  others(known: readonly string[]): UserError[] {
    return this.all.filter((e) => !known.includes(e.field.join('.')));
  }
}

/** Props marking a field invalid and linking it to its message (`aria-describedby`). */
export function invalidProps(id: string, message: string | undefined) {
  return message ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error` } : {};
}

/** The message of an invalid field, next to it; its id is what {@link invalidProps} points at. */
export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <p id={`${id}-error`} className="error-inline field-error">
      {message}
    </p>
  );
}

/** Errors not tied to a field, announced. */
export function UserErrors({ errors }: { errors: readonly UserError[] }) {
  if (!errors.length) return null;
  return (
    <div role="alert" className="error">
      {errors.map((e, i) => (
        <p key={i}>
          {e.message} ({e.code}
          {e.field.length ? ` at ${e.field.join('.')}` : ''})
        </p>
      ))}
    </div>
  );
}

/**
 * Runs one action at a time: `busy` while it runs, its thrown error in `error`, its success message
 * in `message` (announced by {@link Outcome}).
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const run = useCallback(async (action: () => Promise<string | null | void>) => {
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      const done = await action();
      if (done) setMessage(done);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, message, run, setMessage };
}

/** The outcome of an {@link useAction}: its success message or its error. */
export function Outcome({ action }: { action: ReturnType<typeof useAction> }) {
  return (
    <>
      {action.message && (
        <p role="status" className="ok">
          {action.message}
        </p>
      )}
      <ErrorMessage error={action.error} />
    </>
  );
}

/** A destructive action behind a second step: the first button asks, the second (named `confirmLabel`) does it. */
export function Confirm(props: { label: string; ariaLabel?: string; confirmLabel: string; question: ReactNode; onConfirm: () => void; busy?: boolean; danger?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={props.danger ? 'danger' : undefined} aria-label={props.ariaLabel} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <div role="group" aria-label="Confirm" className="confirm card">
      <p>{props.question}</p>
      <button
        type="button"
        className="primary"
        disabled={props.busy}
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        {props.confirmLabel}
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)} autoFocus>
        Cancel
      </button>
    </div>
  );
}

/** A date and time in the reader's locale; `—` when absent. */
export const when = (at: string | null | undefined) => (at ? new Date(at).toLocaleString() : '—');

/** A comma- or newline-separated list as its trimmed, non-empty items. */
export const listOf = (text: string) =>
  text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);

/** What registering or refreshing a provider changed. */
export type Change = {
  created?: string[];
  updated?: string[];
  quarantined?: string[];
  removed?: string[];
  restored?: string[];
  warnings?: string[];
  userErrors: UserError[];
};

/** A provider change in a sentence (`created: a, b; quarantined: c`), or its errors. */
export function ChangeSummary({ change }: { change: Change | null }) {
  if (!change) return null;
  if (change.userErrors.length) return <UserErrors errors={change.userErrors} />;
  const parts = (['created', 'updated', 'quarantined', 'removed', 'restored', 'warnings'] as const)
    .filter((k) => change[k]?.length)
    .map((k) => `${k}: ${change[k]!.join(', ')}`);
  return <p role="status">{parts.length ? parts.join('; ') : 'No changes.'}</p>;
}

/** A {@link Table} that scrolls sideways inside its own box when wider than the screen. */
export function ScrollTable(props: { columns: ReactNode[]; children: ReactNode; busy?: boolean }) {
  return (
    <div className="table-scroll">
      <Table columns={props.columns} busy={props.busy}>
        {props.children}
      </Table>
    </div>
  );
}

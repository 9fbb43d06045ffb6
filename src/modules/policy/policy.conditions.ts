import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { type Address, type Cidr, parseAddress, parseCidr } from '../../common/ip.js';
import type { PolicyConditions, PolicyDay, PolicyTimeWindow } from './policy.entity.js';


/** The outcome of one condition: whether it holds and a human-readable why. */
export interface ConditionResult {
  holds: boolean;
  reason: string;
}

/** What the conditions are evaluated against; local times are memoised per time zone for one decision. */
export interface ConditionContext {
  at: Date;
  sourceIp: string | undefined;
  /** The parsed source address; null when absent or unparseable. */
  source: Address | null;
  arguments: Record<string, unknown> | undefined;
  localTimes: Map<string, LocalTime>;
}

interface LocalTime {
  day: number;
  minutes: number;
}

interface CompiledWindow {
  days: ReadonlySet<number> | null;
  from: number;
  to: number;
  timeZone: string;
  label: string;
}

/** One policy's own conditions, compiled: windows with parsed times, CIDRs parsed, the schema compiled. */
export interface CompiledConditions {
  windows: CompiledWindow[] | null;
  cidrs: { list: Cidr[]; label: string } | null;
  validate: ValidateFunction | null;
}

const DAY_LABELS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const DAY_NAMES = new Map<string, number>(
  ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'].flatMap((name, day) => [
    [name, day] as [string, number],
    [name.slice(0, 3), day] as [string, number],
  ]),
);
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * Compiles a policy's own conditions. Throws an Error naming the offending value (a bad day, time,
 * time zone, CIDR or JSON Schema); `owner` names the policy in the message.
 */
export function compileConditions(conditions: PolicyConditions, owner: string): CompiledConditions {
  const windows = conditions.timeWindows?.length ? conditions.timeWindows.map((w) => compileWindow(w, owner)) : null;
  const cidrs = conditions.sourceCidrs?.length
    ? {
        list: conditions.sourceCidrs.map((entry) => {
          const cidr = parseCidr(entry);
          if (!cidr) throw new Error(`policy ${owner}: source CIDR "${entry}" is not an IP address or CIDR`);
          return cidr;
        }),
        label: conditions.sourceCidrs.join(', '),
      }
    : null;
  let validate: ValidateFunction | null = null;
  if (conditions.arguments !== undefined) {
    try {
      validate = argumentValidator(conditions.arguments);
    } catch (error) {
      throw new Error(`policy ${owner}: argument constraint is not a valid JSON Schema: ${(error as Error).message}`);
    }
  }
  return { windows, cidrs, validate };
}

/** Evaluates compiled conditions; `inherited` names the ancestor they come from, for the reasons. */
export function evaluateConditions(
  compiled: CompiledConditions,
  context: ConditionContext,
  effect: 'allow' | 'deny',
  inherited: string | null,
  reasons: string[],
): boolean {
  const from = inherited === null ? '' : ` (inherited from ${inherited})`;
  let holds = true;
  if (compiled.windows) {
    const result = timeWindowsHold(compiled.windows, context);
    reasons.push(`time window${from}: ${result.reason}`);
    holds &&= result.holds;
  }
  if (compiled.cidrs) {
    const result = cidrsHold(compiled.cidrs, context, effect);
    reasons.push(`source address${from}: ${result.reason}`);
    holds &&= result.holds;
  }
  if (compiled.validate) {
    const result = argumentsHold(compiled.validate, context);
    reasons.push(`arguments${from}: ${result.reason}`);
    holds &&= result.holds;
  }
  return holds;
}

function timeWindowsHold(windows: CompiledWindow[], context: ConditionContext): ConditionResult {
  for (const window of windows) {
    const local = localTime(window.timeZone, context);
    if (windowContains(window, local)) return { holds: true, reason: `inside ${window.label} (${describeLocal(local)})` };
  }
  const local = localTime(windows[0]!.timeZone, context);
  return { holds: false, reason: `outside ${windows.map((w) => w.label).join('; ')} (${describeLocal(local)})` };
}

function windowContains(window: CompiledWindow, { day, minutes }: LocalTime): boolean {
  const onDay = (d: number) => window.days === null || window.days.has(d);
  if (window.from < window.to) return onDay(day) && minutes >= window.from && minutes < window.to;
  if (window.from === window.to) return onDay(day);
  // Crosses midnight: the evening part belongs to `day`, the early-morning part to the day before.
  return (onDay(day) && minutes >= window.from) || (onDay((day + 6) % 7) && minutes < window.to);
}

/**
 * An unknown or unparseable source address fails closed: an allow's CIDR condition does not hold and
 * a deny's does, so neither a missing header nor garbage in it widens access.
 */
function cidrsHold(cidrs: { list: Cidr[]; label: string }, context: ConditionContext, effect: 'allow' | 'deny'): ConditionResult {
  const address = context.source;
  if (address === null) {
    const what = context.sourceIp === undefined ? 'unknown' : `"${context.sourceIp}" is not an IP address`;
    return effect === 'deny'
      ? { holds: true, reason: `${what}; assumed inside ${cidrs.label} (deny fails closed)` }
      : { holds: false, reason: `${what}; not inside ${cidrs.label}` };
  }
  const inside = cidrs.list.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
  return { holds: inside, reason: `${address.toString()} ${inside ? 'inside' : 'outside'} ${cidrs.label}` };
}

/** Absent arguments (catalog reads) leave the constraint unevaluated: it is reported and ignored. */
function argumentsHold(validate: ValidateFunction, context: ConditionContext): ConditionResult {
  if (context.arguments === undefined) return { holds: true, reason: 'not evaluated (no arguments in the request)' };
  if (validate(context.arguments)) return { holds: true, reason: 'satisfy the constraint' };
  const problems = (validate.errors ?? []).map((e) => `arguments${e.instancePath} ${e.message ?? 'is invalid'}`).join('; ');
  return { holds: false, reason: `do not satisfy the constraint: ${problems}` };
}

function compileWindow(window: PolicyTimeWindow, owner: string): CompiledWindow {
  const timeZone = window.timeZone;
  if (typeof timeZone !== 'string' || !formatterFor(timeZone)) throw new Error(`policy ${owner}: unknown time zone "${String(timeZone)}"`);
  const days = window.days?.length ? new Set(window.days.map((d) => parseDay(d, owner))) : null;
  const from = window.from === undefined ? 0 : parseClock(window.from, false, owner);
  const to = window.to === undefined ? 24 * 60 : parseClock(window.to, true, owner);
  const dayLabel = days === null ? 'every day' : describeDays(days);
  const label = `${dayLabel} ${formatClock(from)}–${formatClock(to)} ${timeZone}`;
  return { days, from, to, timeZone, label };
}

function parseDay(day: PolicyDay, owner: string): number {
  if (typeof day === 'number' && Number.isInteger(day) && day >= 0 && day <= 6) return day;
  if (typeof day === 'string') {
    const found = DAY_NAMES.get(day.trim().toLowerCase());
    if (found !== undefined) return found;
  }
  throw new Error(`policy ${owner}: day ${JSON.stringify(day)} is not 0–6 or a weekday name`);
}

function parseClock(value: string, allowEndOfDay: boolean, owner: string): number {
  if (allowEndOfDay && value === '24:00') return 24 * 60;
  const match = CLOCK.exec(value);
  if (!match) throw new Error(`policy ${owner}: time "${value}" is not HH:MM (00:00–23:59${allowEndOfDay ? ' or 24:00' : ''})`);
  return Number(match[1]) * 60 + Number(match[2]);
}

function formatClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** "Mon–Fri" for a run of consecutive days (Monday first), otherwise a list. */
function describeDays(days: ReadonlySet<number>): string {
  const ordered = [1, 2, 3, 4, 5, 6, 0].filter((d) => days.has(d));
  if (ordered.length === 7) return 'every day';
  const order = [1, 2, 3, 4, 5, 6, 0];
  const first = order.indexOf(ordered[0]!);
  const consecutive = ordered.length > 2 && ordered.every((d, i) => order[first + i] === d);
  if (consecutive) return `${DAY_LABELS[ordered[0]!]}–${DAY_LABELS[ordered[ordered.length - 1]!]}`;
  return ordered.map((d) => DAY_LABELS[d]).join(', ');
}

function describeLocal({ day, minutes }: LocalTime): string {
  return `local ${DAY_LABELS[day]} ${formatClock(minutes)}`;
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();
function formatterFor(timeZone: string): Intl.DateTimeFormat | null {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      formatter = null;
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The last local time computed per time zone, by UTC minute: a catalog read asks about one instant many times. */
const lastLocalTimes = new Map<string, { minute: number; local: LocalTime }>();

function localTime(timeZone: string, context: ConditionContext): LocalTime {
  let local = context.localTimes.get(timeZone);
  if (local) return local;
  const minute = Math.floor(context.at.getTime() / 60_000);
  const last = lastLocalTimes.get(timeZone);
  if (last && last.minute === minute) local = last.local;
  else {
    let day = 0;
    let hour = 0;
    let minutes = 0;
    for (const part of formatterFor(timeZone)!.formatToParts(context.at)) {
      if (part.type === 'weekday') day = DAY_LABELS.indexOf(part.value as (typeof DAY_LABELS)[number]);
      else if (part.type === 'hour') hour = Number(part.value) % 24;
      else if (part.type === 'minute') minutes = Number(part.value);
    }
    local = { day, minutes: hour * 60 + minutes };
    lastLocalTimes.set(timeZone, { minute, local });
  }
  context.localTimes.set(timeZone, local);
  return local;
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsPlugin as unknown as { default?: FormatsPlugin }).default ?? addFormatsPlugin) as unknown as FormatsPlugin;
// ajv's default strictness: an unknown (misspelt) keyword in an access rule is refused, not ignored;
// type-related strictness only warns, and the logger is off.
const ajv = addFormats(new Ajv({ strictSchema: true, strictNumbers: true, allErrors: true, logger: false, addUsedSchema: false }));
const validators = new Map<string, ValidateFunction>();
const MAX_VALIDATORS = 1000;

/** Compiles a JSON Schema once per distinct schema text; throws ajv's error for an invalid schema. */
function argumentValidator(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (validators.size >= MAX_VALIDATORS) validators.clear();
    validators.set(key, validate);
  }
  return validate;
}

const trustedLists = new Map<string, Cidr[]>();

/**
 * The X-Forwarded-For rule: the client address is the right-most address not in `trustedProxies`
 * (CIDRs or addresses), walking from the socket address; an untrusted socket's header is ignored.
 * When every hop is trusted the left-most one is the client. An unparseable hop is returned as written
 * (it then fails allow CIDR conditions and satisfies deny ones). Addresses are normalised
 * (IPv4-mapped IPv6 becomes IPv4). Throws an Error naming a `trustedProxies` entry that is not a CIDR.
 */
export function clientAddress(socketAddress: string, forwardedFor: string | undefined, trustedProxies: readonly string[]): string {
  const key = trustedProxies.join(',');
  let trusted = trustedLists.get(key);
  if (!trusted) {
    trusted = trustedProxies.map((entry) => {
      const cidr = parseCidr(entry);
      if (!cidr) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR`);
      return cidr;
    });
    if (trustedLists.size > 100) trustedLists.clear();
    trustedLists.set(key, trusted);
  }
  const isTrusted = (address: Address) => trusted.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
  const socket = parseAddress(socketAddress);
  if (!socket) return socketAddress.trim();
  if (!forwardedFor || !isTrusted(socket)) return socket.toString();
  let client = socket;
  const hops = forwardedFor.split(',').map((hop) => hop.trim()).filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseAddress(hops[i]!);
    if (!hop) return hops[i]!;
    client = hop;
    if (!isTrusted(hop)) return hop.toString();
  }
  return client.toString();
}

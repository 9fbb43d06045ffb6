/**
 * A small detector of secret-shaped strings in tool-call arguments: credentials that should reach a
 * tool through the vault, never through an agent's arguments. It names what it found (the kind),
 * never the value. Patterns are the well-known, low-noise shapes of issued credentials.
 */

/** The kinds of secret the detector recognises. */
export type SecretKind =
  | 'private_key'
  | 'aws_access_key_id'
  | 'jwt'
  | 'github_token'
  | 'slack_token'
  | 'stripe_key'
  | 'openai_key'
  | 'google_api_key';

const PATTERNS: readonly [SecretKind, RegExp][] = [
  ['private_key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/],
  ['aws_access_key_id', /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}(?![A-Z0-9])/],
  // A header and a payload that are base64url JSON objects (`eyJ` is `{"`), then a signature.
  ['jwt', /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/],
  ['github_token', /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})/],
  ['slack_token', /(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10,}/],
  ['stripe_key', /(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}/],
  ['openai_key', /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/],
  ['google_api_key', /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/],
];

/** Strings looked at per value, and characters per string: the scan is bounded whatever the input. */
const MAX_STRINGS = 1000;
const MAX_CHARS = 64 * 1024;
const MAX_DEPTH = 32;

/** The secret kinds found in one string (at most its first {@link MAX_CHARS} characters). */
export function secretKindsIn(text: string): SecretKind[] {
  const scanned = text.length > MAX_CHARS ? text.slice(0, MAX_CHARS) : text;
  // Every pattern needs at least 16 characters.
  if (scanned.length < 16) return [];
  return PATTERNS.filter(([, pattern]) => pattern.test(scanned)).map(([kind]) => kind);
}

/**
 * The secret kinds found in the strings of a JSON value (object keys and values, nested), except
 * strings in `allowed` (values the tool's input schema marks secret, which belong there). Bounded
 * to {@link MAX_STRINGS} strings and {@link MAX_DEPTH} levels.
 */
export function secretKindsInValue(value: unknown, allowed: ReadonlySet<string> = new Set()): SecretKind[] {
  const found = new Set<SecretKind>();
  let budget = MAX_STRINGS;
  const visit = (v: unknown, depth: number): void => {
    if (budget <= 0 || depth > MAX_DEPTH) return;
    if (typeof v === 'string') {
      budget -= 1;
      if (!allowed.has(v)) for (const kind of secretKindsIn(v)) found.add(kind);
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
    } else if (v && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        visit(key, depth + 1);
        visit(item, depth + 1);
      }
    }
  };
  visit(value, 0);
  return [...found].sort();
}

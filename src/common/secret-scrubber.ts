/**
 * Secrets shorter than this many characters are not searched for (a 1 to 3 character "secret" would
 * blank out ordinary text, and is no secret). The credential vault's own checks are separate.
 */
export const MIN_SECRET_LENGTH = 4;

/** Encoded forms shorter than this are not searched for (a base64 slice of a short secret). */
const MIN_FORM_LENGTH = 4;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Python's `quote(s, safe="")`: encodeURIComponent plus `!'()*`. */
const pythonQuote = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The textual spellings of a value: JSON-escaped three ways (plain, `ensure_ascii`, `\/`). */
function spellings(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const ascii = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [secret, json, ascii, json.replace(/\//g, '\\/')];
}

/** URL encodings of `text`: encodeURIComponent, Python's quote, form encoding; percent escapes in upper and lower case. */
function urlForms(text: string): string[] {
  const forms = [encodeURIComponent(text), pythonQuote(text), new URLSearchParams({ s: text }).toString().slice(2)];
  return [...forms, ...forms.map((form) => form.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()))];
}

/**
 * Base64 and base64url of `bytes` as a whole value (padded and not), and the parts of it that stay
 * the same wherever the bytes sit inside a longer base64 text: for each of the 3 byte alignments,
 * the characters that depend on the bytes alone (the unstable first and last characters dropped).
 */
function base64Forms(bytes: Buffer): string[] {
  const forms = [bytes.toString('base64'), bytes.toString('base64url')];
  const bits = bytes.length * 8;
  for (let lead = 0; lead < 3; lead++) {
    const shifted = Buffer.concat([Buffer.alloc(lead), bytes]).toString('base64');
    const from = Math.ceil((lead * 8) / 6);
    const to = Math.floor((lead * 8 + bits) / 6);
    const stable = shifted.slice(from, to);
    forms.push(stable, stable.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/** Every form of `secret` the scrubber looks for (see {@link SecretScrubber}). */
export function secretForms(secret: string): string[] {
  const texts = new Set<string>();
  for (const spelling of spellings(secret)) {
    texts.add(spelling);
    for (const form of urlForms(spelling)) texts.add(form);
  }
  const forms = new Set(texts);
  for (const text of texts) {
    // Any textual form can be echoed encoded as bytes: a URL with the key, base64-encoded.
    const bytes = Buffer.from(text, 'utf8');
    for (const form of base64Forms(bytes)) forms.add(form);
    forms.add(bytes.toString('hex'));
    forms.add(bytes.toString('hex').toUpperCase());
  }
  // URL-encoded twice: a query string holding the key, inside URL-encoded JSON.
  for (const once of urlForms(secret)) for (const twice of urlForms(once)) forms.add(twice);
  // A base64 value sent in a URL, its `+/=` percent-encoded.
  for (const form of base64Forms(Buffer.from(secret, 'utf8'))) for (const url of urlForms(form)) forms.add(url);
  return [...forms].filter((form) => form.length >= MIN_FORM_LENGTH);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Compiled searches by their set of secrets: most calls of a tool carry the same credential. */
const patterns = new Map<string, RegExp>();
/** Searches kept; the oldest is dropped past this. */
const MAX_PATTERNS = 256;

/** The one regular expression finding every form of `secrets` (longest first), compiled once per set. */
function patternFor(secrets: readonly string[]): RegExp | null {
  const wanted = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH))].sort();
  if (wanted.length === 0) return null;
  const key = wanted.join('\0');
  let pattern = patterns.get(key);
  if (!pattern) {
    const forms = new Set(wanted.flatMap(secretForms));
    pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
    patterns.set(key, pattern);
    while (patterns.size > MAX_PATTERNS) patterns.delete(patterns.keys().next().value!);
  }
  return pattern;
}

/**
 * Removes the secrets of one call from everything the call returns or stores. Given the values
 * injected into the call (credential fields, derived values such as a Basic credential, fetched
 * OAuth tokens, arguments the tool's schema marks secret), it finds each in every form an upstream
 * plausibly echoes it: raw; JSON-string-escaped (plain, ASCII-only, with `\/`); URL-encoded
 * (encodeURIComponent, Python's `quote`, form encoding with `+`, upper- or lower-case escapes) of
 * each of those; base64 and base64url, padded or not, whole or embedded at any byte alignment in a
 * longer base64 text (e.g. a base64 dump of all headers), also percent-encoded; and hex in either
 * case, of each textual form; and URL-encoded twice. Combinations follow: URL-encoded JSON, base64 of `user:pass`, `Bearer <token>` (the token
 * is found inside it). Every match, in any string and any object key, is replaced by `replacement`.
 *
 * Values can be added while the call runs (`values` is read live); the search is one regular
 * expression of all forms, longest first, built once per set of secrets (kept for the next call
 * with the same credential) and looked up again only when values were added. Secrets shorter
 * than {@link MIN_SECRET_LENGTH} are ignored.
 */
export class SecretScrubber {
  private pattern: RegExp | null = null;
  private compiledFor = -1;
  /** How many matches were replaced so far. */
  hits = 0;

  /** `values` may grow later (executors push what they fetch); the scrubber follows. */
  constructor(
    private readonly values: readonly string[],
    private readonly replacement = '[REDACTED]',
  ) {}

  private compiled(): RegExp | null {
    if (this.compiledFor !== this.values.length) {
      this.compiledFor = this.values.length;
      this.pattern = patternFor(this.values);
    }
    return this.pattern;
  }

  /** `text` with every form of every secret replaced. */
  text(text: string): string {
    const pattern = this.compiled();
    if (!pattern) return text;
    pattern.lastIndex = 0;
    return text.replace(pattern, () => {
      this.hits++;
      return this.replacement;
    });
  }

  /** A copy of a JSON-like `value` with every string (object keys included) scrubbed; unchanged parts are shared. */
  value<T>(value: T): T {
    if (!this.compiled()) return value;
    const visit = (item: unknown): unknown => {
      if (typeof item === 'string') return this.text(item);
      if (Array.isArray(item)) return item.map(visit);
      if (isObject(item)) return Object.fromEntries(Object.entries(item).map(([k, v]) => [this.text(k), visit(v)]));
      return item;
    };
    return visit(value) as T;
  }
}

import { parse as parseYaml } from 'yaml';
import { ErrorCode, RegistryError } from '../errors.js';
import { boundedFetch, type BoundedResponse } from '../security/egress.js';
import { convertOpenApi, isOpenApiDocument } from '../utcp/openapi.js';
import type { DiscoveryContext, DiscoveryOptions, DiscoveryResult, ManualCallTemplate } from './discovery.types.js';

/** Why a discovery failed, in `extensions.reason` of a DISCOVERY_FAILED error. */
export type DiscoveryFailure =
  | 'unsupported_type'
  | 'invalid_template'
  | 'http_status'
  | 'redirect'
  | 'not_parseable'
  | 'not_a_manual'
  | 'protocol_error'
  | 'command_not_allowed'
  | 'not_found'
  | 'process_failed'
  | 'file_not_allowed'
  | 'too_complex'
  | 'internal';

/** A DISCOVERY_FAILED error; `message` must already be safe to show (no secrets, no full URLs). */
export function discoveryFailed(reason: DiscoveryFailure, message: string, details: Record<string, unknown> = {}): RegistryError {
  return new RegistryError(ErrorCode.DISCOVERY_FAILED, message, { reason, ...details });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A required non-empty string field of the template, or DISCOVERY_FAILED naming it. */
export function requiredString(template: ManualCallTemplate, field: string): string {
  const value = template[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw discoveryFailed('invalid_template', `The ${template.call_template_type} call template needs a non-empty string \`${field}\``);
  }
  return value;
}

/** An optional string field of the template, or DISCOVERY_FAILED when it has another type. */
export function optionalString(template: ManualCallTemplate, field: string): string | undefined {
  const value = template[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw discoveryFailed('invalid_template', `\`${field}\` of the ${template.call_template_type} call template must be a string`);
  }
  return value;
}

/** A `Record<string, string>` field (headers, env), or DISCOVERY_FAILED naming the offending key (never its value). */
export function stringRecord(value: unknown, what: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw discoveryFailed('invalid_template', `${what} must be an object of strings`);
  const record: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw discoveryFailed('invalid_template', `${what} "${key}" must be a string`);
    record[key] = entry;
  }
  return record;
}

/**
 * The headers a request to the provider carries: the template's static `headers`, then the
 * resolved auth headers of the options (which win). Header names or values with CR/LF are refused
 * by name, without echoing the value. (No `Host` reaches a provider: boundedFetch and
 * guardedWebSocket drop it.)
 */
export function requestHeaders(headers: unknown, options: DiscoveryOptions, defaults: Record<string, string> = {}): Record<string, string> {
  const merged: Record<string, string> = { ...defaults };
  const set = (name: string, value: string) => {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw discoveryFailed('invalid_template', `Header "${name.replace(/[\r\n]/g, ' ')}" contains a line break`);
    }
    for (const existing of Object.keys(merged)) if (existing.toLowerCase() === name.toLowerCase()) delete merged[existing];
    merged[name] = value;
  };
  for (const [name, value] of Object.entries(stringRecord(headers, 'A header'))) set(name, value);
  for (const [name, value] of Object.entries(options.headers ?? {})) set(name, value);
  return merged;
}

/** The host of a URL for messages (never the full URL: its path or query may carry secrets). */
export function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fetches a discovery document through the egress guard with the time left and the size cap.
 * A non-2xx answer is DISCOVERY_FAILED (`http_status`, with `status`); with `redirect: 'manual'`
 * a 3xx answer is DISCOVERY_FAILED (`redirect`), as the streaming reference protocols refuse redirects.
 * Egress and upstream errors (EGRESS_DENIED, UPSTREAM_*) pass through unchanged.
 */
export async function fetchDiscoveryDocument(
  url: string,
  context: DiscoveryContext,
  init: { method?: string; headers: Record<string, string>; body?: string; redirect: 'follow' | 'manual'; what: string },
): Promise<BoundedResponse> {
  const host = hostOf(url);
  const response = await boundedFetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers,
    ...(init.body === undefined ? {} : { body: init.body }),
    redirect: init.redirect,
    signal: context.signal,
    timeoutMs: context.remainingMs(),
    maxBytes: context.options.maxBytes,
    policy: context.options.egress,
  });
  if (response.status >= 300 && response.status < 400 && init.redirect === 'manual') {
    throw discoveryFailed(
      'redirect',
      `${init.what} at "${host}" answered with a redirect (HTTP ${response.status}); redirects are not followed for this call template type, so point \`url\` at the final address`,
      { status: response.status, host },
    );
  }
  if (response.status < 200 || response.status >= 300) {
    throw discoveryFailed('http_status', `${init.what} at "${host}" answered HTTP ${response.status}; expected 2xx with the manual`, {
      status: response.status,
      host,
    });
  }
  return response;
}

function decode(body: Buffer | string): string {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses JSON only; DISCOVERY_FAILED (`not_parseable`) names `source`, never the content. */
export function parseJson(body: Buffer | string, source: string): unknown {
  const text = decode(body).trim();
  if (!text) throw discoveryFailed('not_parseable', `${source} is empty; expected a JSON UTCP manual`);
  try {
    return JSON.parse(text);
  } catch {
    throw discoveryFailed('not_parseable', `${source} is not valid JSON; expected a JSON UTCP manual`);
  }
}

/**
 * Parses JSON, else YAML (YAML 1.2 is a superset of JSON, so JSON is tried first for its exact
 * number handling and speed). Aliases are bounded against "billion laughs" documents.
 * DISCOVERY_FAILED (`not_parseable`) names `source`, never the content.
 */
export function parseJsonOrYaml(body: Buffer | string, source: string): unknown {
  const text = decode(body);
  if (!text.trim()) throw discoveryFailed('not_parseable', `${source} is empty; expected a UTCP manual or an OpenAPI document`);
  try {
    return JSON.parse(text);
  } catch {
    // not JSON: try YAML
  }
  try {
    return parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (error) {
    const line = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw discoveryFailed('not_parseable', `${source} is neither JSON nor YAML${line ? ` (YAML error at line ${line})` : ''}`);
  }
}

/** Whether a parsed document presents itself as a UTCP manual (1.x `utcp_version`, or a `tools` list, 0.1 included). */
export function looksLikeManual(document: unknown): document is Record<string, unknown> {
  return isObject(document) && ('utcp_version' in document || Array.isArray(document.tools));
}

function describe(document: unknown): string {
  if (Array.isArray(document)) return 'a JSON array';
  if (document === null) return 'null';
  if (isObject(document)) return 'an object without `utcp_version`/`tools`, `openapi` or `swagger`';
  return `a ${typeof document}`;
}

/**
 * Turns a parsed document into a discovery result: a UTCP manual passes through as it is (the caller
 * validates it, which also refuses 0.1 manuals with their own code); an OpenAPI 2/3 document is
 * converted when `openApi` is set; anything else is DISCOVERY_FAILED (`not_a_manual`).
 */
export async function manualFromDocument(
  document: unknown,
  source: string,
  options: { openApi: boolean; sourceUrl?: string; maxOperations?: number },
): Promise<DiscoveryResult> {
  if (looksLikeManual(document)) return { manual: document, warnings: [] };
  if (isOpenApiDocument(document)) {
    if (!options.openApi) {
      throw discoveryFailed(
        'not_a_manual',
        `${source} is an OpenAPI document, but this call template type expects a UTCP manual; register OpenAPI documents with an \`http\`, \`text\` or \`file\` call template`,
      );
    }
    // Returned, not awaited: this frame (and its hold on the parsed document) ends here, so the
    // converter's copy is the only one left while it works (a 13 MB description is ~100 MB parsed).
    return convertOpenApi(document, {
      owned: true,
      ...(options.sourceUrl === undefined ? {} : { sourceUrl: options.sourceUrl }),
      ...(options.maxOperations === undefined ? {} : { maxOperations: options.maxOperations }),
    });
  }
  const expected = options.openApi ? 'a UTCP manual (`utcp_version`, `tools`) or an OpenAPI 2/3 document' : 'a UTCP manual (`utcp_version`, `tools`)';
  throw discoveryFailed('not_a_manual', `${source} is ${describe(document)}; expected ${expected}`);
}

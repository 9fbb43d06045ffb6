import {
  fetchDiscoveryDocument,
  hostOf,
  manualFromDocument,
  optionalString,
  parseJson,
  requestHeaders,
  requiredString,
} from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

/**
 * `streamable_http`: as the reference, requests `url` with the template's `http_method` (GET by
 * default), redirects refused, and reads the whole (possibly chunked) body as one JSON UTCP manual.
 * OpenAPI documents are not converted for this type.
 */
export const discoverStreamableHttp: Discoverer = async (template, context) => {
  const url = requiredString(template, 'url');
  const method = (optionalString(template, 'http_method') ?? 'GET').toUpperCase();
  const source = `The streamable HTTP discovery document at "${hostOf(url)}"`;
  const response = await fetchDiscoveryDocument(url, context, {
    method,
    headers: requestHeaders(template.headers, context.options, { accept: 'application/json' }),
    redirect: 'manual',
    what: 'The streamable HTTP provider',
  });
  return manualFromDocument(parseJson(response.body, source), source, { openApi: false });
};

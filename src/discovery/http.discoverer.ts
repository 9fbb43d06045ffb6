import { manualFromContent } from './discovery.convert.js';
import { fetchDiscoveryDocument, hostOf, optionalString, requestHeaders, requiredString } from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

const ACCEPT = 'application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.5';

/**
 * `http`: requests `url` with the template's `http_method` (GET by default) and its headers plus the
 * resolved auth headers; the answer is a UTCP manual, or an OpenAPI 2/3 document (JSON or YAML) that
 * is converted with `url` as its source. Redirects are followed, each hop re-checked by the egress guard.
 * As the reference: UTCP manual first, then OpenAPI, else "neither" (DISCOVERY_FAILED).
 */
export const discoverHttp: Discoverer = async (template, context) => {
  const url = requiredString(template, 'url');
  const method = (optionalString(template, 'http_method') ?? 'GET').toUpperCase();
  const source = `The document at "${hostOf(url)}"`;
  const response = await fetchDiscoveryDocument(url, context, {
    method,
    headers: requestHeaders(template.headers, context.options, { accept: ACCEPT }),
    redirect: 'follow',
    what: 'The HTTP provider',
  });
  const options = { openApi: true, sourceUrl: url, maxOperations: context.options.openApiMaxOperations };
  return context.offTheClock(() => manualFromContent(response.body, source, options, context.signal));
};

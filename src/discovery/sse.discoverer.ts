import { createParser } from 'eventsource-parser';
import {
  discoveryFailed,
  fetchDiscoveryDocument,
  hostOf,
  isObject,
  manualFromDocument,
  optionalString,
  parseJson,
  requestHeaders,
  requiredString,
} from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

/**
 * `sse`: as the reference, a GET of `url` (redirects refused) whose body is the UTCP manual as a
 * plain JSON document. A finite `text/event-stream` answer is accepted too: the first event (of the
 * template's `event_type`, when set) whose data is a JSON object with `tools` is the manual.
 * OpenAPI documents are not converted for this type.
 */
export const discoverSse: Discoverer = async (template, context) => {
  const url = requiredString(template, 'url');
  const eventType = optionalString(template, 'event_type');
  const source = `The SSE discovery document at "${hostOf(url)}"`;
  const response = await fetchDiscoveryDocument(url, context, {
    headers: requestHeaders(template.headers, context.options, { accept: 'application/json, text/event-stream;q=0.9' }),
    redirect: 'manual',
    what: 'The SSE provider',
  });
  const mediaType = (response.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === 'text/event-stream') {
    return manualFromDocument(manualFromEventStream(response.body.toString('utf8'), eventType, source), source, { openApi: false });
  }
  return manualFromDocument(parseJson(response.body, source), source, { openApi: false });
};

function manualFromEventStream(text: string, eventType: string | undefined, source: string): unknown {
  let manual: unknown;
  let events = 0;
  const parser = createParser({
    onEvent(event) {
      events++;
      if (manual !== undefined || (eventType !== undefined && (event.event ?? 'message') !== eventType)) return;
      try {
        const data: unknown = JSON.parse(event.data);
        if (isObject(data) && Array.isArray(data.tools)) manual = data;
      } catch {
        // not JSON: keep looking
      }
    },
  });
  parser.feed(text);
  if (manual !== undefined) return manual;
  const what = events === 0 ? 'carried no events' : `carried ${events} event(s), none with a JSON UTCP manual${eventType ? ` of type "${eventType}"` : ''}`;
  throw discoveryFailed('not_a_manual', `${source} is an event stream that ${what}`);
}

import { ErrorCode, RegistryError } from '../errors.js';
import { CALL_TEMPLATE_TYPES } from '../utcp/manual.schema.js';
import { discoverCli } from './cli.discoverer.js';
import { discoveryFailed, hostOf } from './discovery.document.js';
import type { DiscoveryOptions, DiscoveryResult, Discoverer, ManualCallTemplate } from './discovery.types.js';
import { discoverFile } from './file.discoverer.js';
import { discoverGraphql } from './graphql.discoverer.js';
import { discoverHttp } from './http.discoverer.js';
import { discoverMcp } from './mcp.discoverer.js';
import { discoverSse } from './sse.discoverer.js';
import { discoverStreamableHttp } from './streamable-http.discoverer.js';
import { discoverText } from './text.discoverer.js';
import { discoverWebSocket } from './websocket.discoverer.js';

export type { DiscoveryFailure } from './discovery.document.js';
export type { DiscoveryOptions, DiscoveryResult } from './discovery.types.js';
export { mcpToolName } from './mcp.discoverer.js';

/** The discoverer of every UTCP 1.1 call template type; explicit, so the compiler proves none is missing. */
export const DISCOVERERS: Readonly<Record<(typeof CALL_TEMPLATE_TYPES)[number], Discoverer>> = Object.freeze({
  http: discoverHttp,
  sse: discoverSse,
  streamable_http: discoverStreamableHttp,
  cli: discoverCli,
  websocket: discoverWebSocket,
  graphql: discoverGraphql,
  mcp: discoverMcp,
  text: discoverText,
  file: discoverFile,
});

/**
 * Discovers the manual behind a (validated) manual call template, dispatching on
 * `call_template_type`, within `options.timeoutMs` for the whole operation (whatever is still running
 * at the deadline is abandoned and its sockets and processes released).
 * Throws RegistryError DISCOVERY_FAILED with a reason a user can act on (`extensions.reason`), or the
 * egress errors: EGRESS_DENIED, UPSTREAM_TIMEOUT, UPSTREAM_TOO_LARGE, UPSTREAM_UNAVAILABLE. Messages name
 * hosts, commands and paths as given, never a full URL, header value or raw stack.
 */
export async function discoverManual(template: ManualCallTemplate, options: DiscoveryOptions): Promise<DiscoveryResult> {
  const type = template.call_template_type;
  if (!Object.hasOwn(DISCOVERERS, type)) {
    throw discoveryFailed('unsupported_type', `Call template type ${JSON.stringify(String(type))} cannot be discovered; expected one of ${CALL_TEMPLATE_TYPES.join(', ')}`);
  }
  if (!(options.timeoutMs > 0) || !(options.maxBytes > 0)) throw new RangeError('discoverManual needs a positive timeoutMs and maxBytes');
  const discoverer = DISCOVERERS[type as keyof typeof DISCOVERERS];
  const controller = new AbortController();
  let deadline = Date.now() + options.timeoutMs;
  const host = typeof template.url === 'string' ? hostOf(template.url) : undefined;
  let timer: NodeJS.Timeout | undefined;
  let expire!: (error: RegistryError) => void;
  const expired = new Promise<never>((_, reject) => {
    expire = reject;
  });
  const arm = () => {
    timer = setTimeout(() => {
      expire(
        new RegistryError(
          ErrorCode.UPSTREAM_TIMEOUT,
          `Discovery of the ${type} provider${host ? ` at "${host}"` : ''} did not finish within ${options.timeoutMs} ms`,
          { timeoutMs: options.timeoutMs, ...(host ? { host } : {}) },
        ),
      );
      controller.abort();
    }, Math.max(0, deadline - Date.now()));
  };
  arm();
  // The registry's own work on a fetched document (converting a large OpenAPI description takes
  // seconds) does not count against the provider's deadline, which resumes afterwards.
  const offTheClock = async <T>(work: () => Promise<T>): Promise<T> => {
    clearTimeout(timer);
    const paused = Date.now();
    try {
      return await work();
    } finally {
      deadline += Date.now() - paused;
      if (!controller.signal.aborted) arm();
    }
  };
  try {
    const context = { options, signal: controller.signal, remainingMs: () => Math.max(1, deadline - Date.now()), offTheClock };
    return await Promise.race([discoverer(template, context), expired]);
  } catch (error) {
    throw safeError(error, type);
  } finally {
    clearTimeout(timer);
    // Releases whatever a discoverer still holds (sockets, child processes).
    controller.abort();
  }
}

/** Registry errors pass through; anything else (a bug) becomes DISCOVERY_FAILED without its message or stack. */
function safeError(error: unknown, type: string): RegistryError {
  if (error instanceof RegistryError) return error;
  return discoveryFailed('internal', `Discovery of the ${type} provider failed unexpectedly`);
}

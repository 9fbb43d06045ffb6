import { LRUCache } from 'lru-cache';
import { type ReadFilter } from '../tool/tool.visibility.js';
import { type CallableTool } from './execution.admit.js';

/** Most characters of remembered tools (their JSON) per process. */
const MAX_CHARS = 8 * 1024 * 1024;
/**
 * Longest a tool is remembered. Its {@link CallableTool.version} is made of row versions
 * (`xmin`, transaction ids); this keeps an entry far younger than the 2^32 transactions after which
 * an id could come round again.
 */
const TTL_MS = 5 * 60_000;

/** Freezes `value` and everything in it: one remembered tool serves many calls at once. */
function frozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) frozen(member);
  }
  return value;
}

/**
 * The tools calls were made of, as this process last read them (`findCallable`), by name and the
 * caller's read filter: what a keyless call reads before its first statement. A remembered tool is
 * never trusted as it is: the statement that stores the call stores it only if the tool, its
 * provider, credentials and variables still have the {@link CallableTool.version} they were read
 * with (`callableGuard`), in the same snapshot as the write. When they changed — on any replica, by
 * any writer — nothing is stored, the tool is forgotten and read again. So the cache saves the read
 * without ever deciding a call on what has changed, and needs no invalidation messages.
 * Only the sealed credentials are kept, never their decrypted values.
 */
export class CallableTools {
  private readonly tools = new LRUCache<string, CallableTool>({
    maxSize: MAX_CHARS,
    sizeCalculation: (tool, key) => key.length + JSON.stringify(tool).length,
    ttl: TTL_MS,
  });

  private static key(name: string, filter: ReadFilter): string {
    return filter ? `${name}\u0000${filter.sql}\u0000${JSON.stringify(filter.params)}` : `${name}\u0000*`;
  }

  /** The tool of this name as last read for this read filter, if remembered. */
  get(name: string, filter: ReadFilter): CallableTool | undefined {
    return this.tools.get(CallableTools.key(name, filter));
  }

  /** Remembers `tool`, read by this name for this read filter (frozen from now on). */
  remember(name: string, filter: ReadFilter, tool: CallableTool): void {
    this.tools.set(CallableTools.key(name, filter), frozen(tool));
  }

  /** Forgets the tool of this name for this read filter (it changed since it was read). */
  forget(name: string, filter: ReadFilter): void {
    this.tools.delete(CallableTools.key(name, filter));
  }
}

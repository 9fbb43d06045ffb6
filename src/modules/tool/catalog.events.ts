import { type EventBus } from '../../common/event-bus.js';
import { POLICY_TOPIC } from '../policy/policy.cache.js';
import { type SyncResult } from './tool.sync.js';

/** What happened to a tool, as a catalog subscriber sees it. */
export enum CatalogChangeKind {
  /** New, or listed again after having been removed. */
  ADDED = 'ADDED',
  /** A new definition or tags applied, a quarantined version approved, enabled or disabled. */
  CHANGED = 'CHANGED',
  /** A changed definition waits for an admin's approval; the tool may not be called until then. */
  QUARANTINED = 'QUARANTINED',
  /** No longer offered by its provider (or the provider was removed). */
  REMOVED = 'REMOVED',
}

/** One change, by tool name (unique in the catalog). */
export interface CatalogChange {
  kind: CatalogChangeKind;
  tool: string;
}

/** The bus topic of catalog changes (the catalog cache listens to it too). */
export const CATALOG_TOPIC = 'catalog';
/** Changes per bus message, so a provider with thousands of tools does not make one huge message. */
const BATCH = 200;

/** The changes a sync made, by kind. */
export function changesOf(sync: SyncResult): CatalogChange[] {
  const of = (kind: CatalogChangeKind, names: string[]) => names.map((tool) => ({ kind, tool }));
  return [
    ...of(CatalogChangeKind.ADDED, [...sync.created, ...sync.restored]),
    ...of(CatalogChangeKind.CHANGED, sync.updated),
    ...of(CatalogChangeKind.QUARANTINED, sync.quarantined),
    ...of(CatalogChangeKind.REMOVED, sync.removed),
  ];
}

/**
 * Catalog changes for `catalogChanged` subscribers, on the event bus (across replicas with Redis).
 * Published after the change committed; subscribers filter by what they may read.
 */
export class CatalogEvents {
  constructor(private readonly bus: EventBus) {}

  /** Announces committed changes; an empty list says only that providers changed (status, credentials). */
  publish(changes: readonly CatalogChange[]): void {
    if (changes.length === 0) this.bus.publish(CATALOG_TOPIC, []);
    for (let i = 0; i < changes.length; i += BATCH) this.bus.publish(CATALOG_TOPIC, changes.slice(i, i + BATCH));
  }

  /** Batches of changes until `signal` aborts; resolves once listening. Throws EVENTS_UNAVAILABLE. */
  listen(signal: AbortSignal): Promise<AsyncIterable<CatalogChange[]>> {
    return this.bus.listen(CATALOG_TOPIC, signal) as Promise<AsyncIterable<CatalogChange[]>>;
  }

  /**
   * A message whenever the stored policies changed (on any replica), until `signal` aborts: what a
   * caller may read or execute may have changed with them. Resolves once listening; throws EVENTS_UNAVAILABLE.
   */
  listenForPolicies(signal: AbortSignal): Promise<AsyncIterable<unknown>> {
    return this.bus.listen(POLICY_TOPIC, signal);
  }
}

import { type ApolloServerPlugin } from '@apollo/server';
import { type OperationDefinitionNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { type EventBus } from '../common/event-bus.js';
import { InvalidationListener } from '../common/invalidations.js';
import { type GraphQLRequestBody, requestKey } from '../common/graphql-request.js';
import { type RegistryContext } from '../context.types.js';
import { type Logger } from '../logger.js';
import { type Viewer } from '../modules/principal/index.js';
import { CATALOG_TOPIC, type ReadFilter } from '../modules/tool/index.js';
import { type BudgetState } from '../security/budgets.js';
import { metrics } from '../observability/metrics.js';

/** Root fields whose answer depends only on the catalog, the caller and its `read` policies. */
const CATALOG_FIELDS = new Set(['tools', 'tool', 'providers', 'provider']);
/** Mutations that never change what a catalog query answers (and are frequent): no invalidation. */
const NEUTRAL_MUTATIONS = new Set(['executeTool', 'cancelExecution']);
/** Topic on which any replica announces a change that may alter catalog answers. */
const INVALIDATE = 'invalidate';

export interface CatalogCacheOptions {
  /** Most bytes of cached answers per process. */
  maxBytes: number;
  /** Longest an answer is kept, also when an invalidation from another replica is lost. */
  ttlMs: number;
}

/** What the fast path needs from the request pipeline. */
export interface FastPathCaller {
  viewer: Viewer;
  /** The caller's catalog visibility now (`read` policies, source address, time). */
  readFilter(): Promise<ReadFilter>;
  /** Charges `cost` to the caller's budget. */
  charge(cost: number): Promise<BudgetState>;
}

/** Whose answer this is: the principal, its scopes and which tools it may read right now. */
function audienceKey(viewer: Viewer, filter: ReadFilter): string {
  const readable = filter ? `${filter.sql}\u0000${JSON.stringify(filter.params)}` : '*';
  return `${viewer.principalId}\u0000${[...viewer.scopes].sort().join(' ')}\u0000${readable}`;
}

/** Whether a resolved operation reads only the catalog: a query of catalog root fields, nothing else. */
function readsOnlyCatalog(operation: OperationDefinitionNode): boolean {
  if (operation.operation !== 'query') return false;
  return operation.selectionSet.selections.every((s) => s.kind === 'Field' && CATALOG_FIELDS.has(s.name.value) && !s.directives?.length);
}

/**
 * Answers to catalog queries (`tools`, `tool`, `providers`, `provider` and nothing else), kept per
 * caller: the key holds the principal, its scopes, its current read filter and the request exactly
 * as sent, so an answer is only ever served to the principal it was computed for, with the
 * visibility it still has. An answer is kept from the second time its request is seen: one asked
 * once (a distinct search, a page read once) would only cost its serialisation and push out
 * answers that are asked for again. Entries count their keys' and answers' characters against
 * the size limit. Any committed change — a catalog change, or any successful mutation on
 * any replica (through the event bus) — empties it. While the bus is out of reach nothing is cached
 * or served, and what was cached before is dropped when it is back; `ttlMs` bounds staleness
 * should an invalidation be lost all the same.
 *
 * A cached request takes a fast path in front of Apollo: the token is authenticated, the policies
 * read and the cost charged to the budget exactly as on the full path, but parsing, validation,
 * query limits (the same document passed them) and execution are skipped. Anything unusual — an
 * unknown request, no or a bad token, a spent budget — takes the full path, which answers it.
 */
export class CatalogCache {
  /** Requests seen that are cacheable catalog reads, with their budget charge and complexity (an answer is kept from a request's second time on). */
  private readonly requests = new LRUCache<string, { cost: number; complexity: number | undefined }>({ max: 10_000 });
  private readonly answers: LRUCache<string, string>;
  private generation = 0;
  /** Invalidations from every replica (and this one); until they arrive, nothing is cached or served. */
  private readonly invalidations: InvalidationListener;

  constructor(
    private readonly bus: EventBus,
    logger: Logger,
    options: CatalogCacheOptions,
  ) {
    this.answers = new LRUCache<string, string>({ maxSize: options.maxBytes, sizeCalculation: (value, key) => value.length + key.length, ttl: options.ttlMs });
    const clear = () => this.clear();
    this.invalidations = new InvalidationListener(bus, [INVALIDATE, CATALOG_TOPIC], { onMessage: clear, onMissed: clear }, logger, 'catalog cache');
  }

  /**
   * Listens for invalidations from every replica (and this one). When the bus cannot be reached
   * the cache stays off and listening is retried in the background; it never fails the start.
   */
  start(): Promise<void> {
    return this.invalidations.start();
  }

  stopListening(): void {
    this.invalidations.close();
  }

  /** Drops every cached answer here and on every other replica. */
  invalidate(): void {
    this.clear();
    this.bus.publish(INVALIDATE, {});
  }

  private clear(): void {
    this.generation += 1;
    this.answers.clear();
  }

  /**
   * The cached answer's body for this request and the caller's budget after its charge, or null
   * when the full path must answer. `caller` is asked for only when the request is a known catalog read.
   */
  async serve(body: GraphQLRequestBody, caller: () => Promise<FastPathCaller | null>): Promise<{ body: string; budget: BudgetState } | null> {
    if (!this.invalidations.usable()) return null;
    const key = requestKey(body);
    const known = this.requests.get(key);
    if (!known) return null;
    const who = await caller();
    if (!who) return null;
    const audience = audienceKey(who.viewer, await who.readFilter());
    const data = this.answers.get(`${audience}\u0000${key}`);
    if (data === undefined) return null;
    const budget = await who.charge(known.cost);
    if (!budget.allowed) return null;
    metrics.catalogCache.inc({ result: 'hit' });
    const cost = {
      requested: known.cost,
      complexity: known.complexity,
      limit: budget.limit,
      remaining: budget.remaining,
      used: budget.used,
      resetAt: budget.resetAt.toISOString(),
    };
    return { body: `{"data":${data},"extensions":${JSON.stringify({ cost })}}`, budget };
  }

  /**
   * Apollo plugin: remembers the answers of catalog reads that succeeded, and invalidates after
   * every mutation that did not fail outright (its payload may still list user errors).
   */
  plugin(): ApolloServerPlugin<RegistryContext> {
    return {
      requestDidStart: async () => {
        const generation = this.generation;
        return {
          willSendResponse: async ({ operation, request, response, contextValue, errors }) => {
            if (!operation || response.body.kind !== 'single') return;
            const result = response.body.singleResult;
            if (operation.operation === 'mutation') {
              const neutral = operation.selectionSet.selections.every((s) => s.kind === 'Field' && NEUTRAL_MUTATIONS.has(s.name.value));
              if (result.data && !neutral) this.invalidate();
              return;
            }
            const viewer = contextValue.viewer;
            if (!readsOnlyCatalog(operation)) return;
            // A catalog read that ran: one the cache could not answer.
            metrics.catalogCache.inc({ result: 'miss' });
            if (!this.invalidations.usable() || !viewer || errors?.length || result.errors?.length || !result.data) return;
            if (typeof request.query !== 'string' || generation !== this.generation) return;
            const body = { query: request.query, operationName: request.operationName, variables: request.variables };
            const key = requestKey(body);
            const seen = this.requests.has(key);
            this.requests.set(key, { cost: contextValue.queryCharge ?? 1, complexity: contextValue.queryCost });
            // Kept from a request's second time on (see the class's comment).
            if (!seen) return;
            const audience = audienceKey(viewer, await contextValue.tools.visibility());
            if (generation === this.generation) this.answers.set(`${audience}\u0000${key}`, JSON.stringify(result.data));
          },
        };
      },
    };
  }
}

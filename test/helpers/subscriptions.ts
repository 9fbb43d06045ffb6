import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { operation } from './operations.js';

/** One subscription over graphql-ws, collecting what the server sends. */
export interface LiveSubscription<TData> {
  /** Every `data` received so far, in order. */
  received: TData[];
  /** GraphQL errors the server ended the subscription with, if it did. */
  errors: readonly { message: string; extensions?: Record<string, unknown> }[];
  /** Whether the server completed (or errored) the subscription. */
  done: boolean;
  /** Resolves with the first received item (counting from `from`) that satisfies `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (data: TData) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<TData>;
  /** Resolves when the server ends the subscription; rejects after `timeoutMs`. */
  ended(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** An error or a WebSocket close event, as a message. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const close = error as { code?: number; reason?: string };
  return typeof close.code === 'number' ? `closed ${close.code}: ${close.reason ?? ''}` : String(error);
}

/**
 * Subscribes to the named operation of test/operations on `url` (the registry's http URL) with a
 * bearer token sent in `connection_init`, as the reference client does.
 */
export function subscribe<TData, TVariables extends Record<string, unknown> = Record<string, never>>(
  url: string,
  token: string,
  name: string,
  variables?: TVariables,
): LiveSubscription<TData> {
  const client: Client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
  });
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  const live: LiveSubscription<TData> = {
    received: [],
    errors: [],
    done: false,
    async waitFor(predicate, { timeoutMs = 10_000, from = 0 } = {}) {
      return new Promise<TData>((resolve, reject) => {
        const check = () => {
          const found = live.received.slice(from).find(predicate);
          if (found !== undefined) finish(() => resolve(found));
          else if (live.done) finish(() => reject(new Error(`subscription ended first: ${JSON.stringify({ received: live.received, errors: live.errors })}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`nothing matched within ${timeoutMs} ms; received ${JSON.stringify(live.received)}`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async ended(timeoutMs = 10_000) {
      await live.waitFor(() => false, { timeoutMs, from: Number.MAX_SAFE_INTEGER }).catch((error: Error) => {
        if (!live.done) throw error;
      });
    },
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
  const unsubscribe = client.subscribe<TData>(
    { query: operation(name), variables },
    {
      next: (message) => {
        if (message.errors) live.errors = message.errors as LiveSubscription<TData>['errors'];
        if (message.data) live.received.push(message.data as TData);
        wake();
      },
      error: (error) => {
        live.errors = Array.isArray(error) ? error : [{ message: describe(error) }];
        live.done = true;
        wake();
      },
      complete: () => {
        live.done = true;
        wake();
      },
    },
  );
  return live;
}

import { EventEmitter, on, once } from 'node:events';
import { type Redis } from 'ioredis';
import { ErrorCode, RegistryError } from '../errors.js';
import { type Logger } from '../logger.js';

/**
 * Topic-based events for subscriptions: within one process, or across every replica through Redis
 * pub/sub. Delivery is at most once and in publishing order per publisher; nothing is stored, so a
 * listener sees only what is published after its `listen` resolved.
 */
export interface EventBus {
  /**
   * Sends `message` (JSON-serializable) to every listener of `topic`; never throws. Resolves once
   * the bus took it (Redis: answered the PUBLISH, having handed it to every subscribed replica's
   * connection), so a caller may wait before answering; never rejects.
   */
  publish(topic: string, message: unknown): Promise<void>;
  /**
   * The messages of `topic` until `signal` aborts. Resolves once listening is in effect, so a message
   * published after that is delivered. Throws EVENTS_UNAVAILABLE when the shared bus cannot be reached.
   */
  listen(topic: string, signal: AbortSignal): Promise<AsyncIterable<unknown>>;
  /**
   * Which unbroken stretch of delivery this is: a number that changes whenever delivery resumes
   * after messages may have been missed, or null while they may be missed (the shared bus is out
   * of reach). A listener that keeps state derived from messages drops it when this changes.
   */
  deliveryEpoch(): number | null;
  close(): Promise<void>;
}

/** The messages emitted under `topic` from the moment of the call (`on` attaches at once). */
async function* messages(emitter: EventEmitter, topic: string, signal: AbortSignal): AsyncGenerator<unknown> {
  try {
    for await (const [message] of on(emitter, topic, { signal })) yield message;
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

/** Listens before the caller continues: the generator is started so its listener is attached now. */
function listening(emitter: EventEmitter, topic: string, signal: AbortSignal): AsyncIterable<unknown> {
  const iterator = messages(emitter, topic, signal);
  const first = iterator.next();
  first.catch(() => {});
  let started = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (started) return iterator.next();
        started = true;
        return first;
      },
      return: (value?: unknown) => iterator.return(value),
    }),
  };
}

/** Events within this process only (no Redis configured). */
export class LocalEventBus implements EventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(topic: string, message: unknown): Promise<void> {
    this.emitter.emit(topic, message);
  }

  async listen(topic: string, signal: AbortSignal): Promise<AsyncIterable<unknown>> {
    return listening(this.emitter, topic, signal);
  }

  deliveryEpoch(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** How long `listen` waits for Redis to confirm a subscription. */
const SUBSCRIBE_TIMEOUT_MS = 10_000;

/**
 * Events through Redis pub/sub, so a listener on any replica receives what any replica publishes
 * (its own included: local messages take the same path, which keeps one order). One subscriber
 * connection per process carries every topic; a Redis channel is subscribed while some listener
 * of its topic is open.
 */
export class RedisEventBus implements EventBus {
  private readonly local = new EventEmitter().setMaxListeners(0);
  private readonly channels = new Map<string, { listeners: number; ready: Promise<unknown> }>();
  private readonly subscriber: Redis;
  /** Whether every open channel is subscribed on a live connection. */
  private delivering = false;
  /** Counts the times `delivering` became true. */
  private epoch = 0;

  constructor(
    private readonly publisher: Redis,
    private readonly logger: Logger,
    /** Channel prefix: replicas of one registry share it, other registries on the same Redis do not. */
    private readonly prefix: string,
  ) {
    // A subscribed connection can run nothing else. Subscriptions are this class's to keep: it sends
    // SUBSCRIBE only on a ready connection (one sent while ioredis is still setting the connection
    // up breaks its ready check, and the reconnect that follows forgets the channel) and subscribes
    // every open channel again whenever the connection becomes ready.
    this.subscriber = publisher.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: false });
    this.subscriber.setMaxListeners(0);
    this.subscriber.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'redis event subscriber unavailable'));
    this.subscriber.on('ready', () => {
      const channels = [...this.channels.keys()].map((topic) => this.prefix + topic);
      const resubscribed = channels.length > 0 ? this.subscriber.subscribe(...channels) : Promise.resolve();
      resubscribed.then(
        () => {
          if (this.subscriber.status !== 'ready') return;
          this.epoch += 1;
          this.delivering = true;
        },
        (error: Error) => {
          logger.warn({ err: { message: error.message } }, 'could not subscribe to events again; reconnecting');
          this.subscriber.disconnect(true);
        },
      );
    });
    this.subscriber.on('close', () => {
      this.delivering = false;
    });
    this.subscriber.on('message', (channel: string, raw: string) => {
      let message: unknown;
      try {
        message = JSON.parse(raw);
      } catch {
        logger.warn({ channel }, 'dropped an event that is not JSON');
        return;
      }
      this.local.emit(channel.slice(this.prefix.length), message);
    });
  }

  /** Subscribes `topic`'s channel once the subscriber connection is ready (now, if it is). */
  private async subscribe(topic: string): Promise<void> {
    if (this.subscriber.status !== 'ready') await once(this.subscriber, 'ready');
    // Its listeners may have given up waiting meanwhile.
    if (this.channels.has(topic)) await this.subscriber.subscribe(this.prefix + topic);
  }

  publish(topic: string, message: unknown): Promise<void> {
    return this.publisher.publish(this.prefix + topic, JSON.stringify(message)).then(
      () => undefined,
      (error: Error) => {
        this.logger.warn({ err: { message: error.message }, topic }, 'could not publish an event');
      },
    );
  }

  async listen(topic: string, signal: AbortSignal): Promise<AsyncIterable<unknown>> {
    const failed = new AbortController();
    const iterable = listening(this.local, topic, AbortSignal.any([signal, failed.signal]));
    let channel = this.channels.get(topic);
    if (!channel) {
      channel = { listeners: 0, ready: Promise.resolve() };
      this.channels.set(topic, channel);
      channel.ready = this.subscribe(topic);
      channel.ready.catch(() => {});
    }
    const opened = channel;
    opened.listeners += 1;
    const release = () => {
      opened.listeners -= 1;
      if (opened.listeners > 0 || this.channels.get(topic) !== opened) return;
      this.channels.delete(topic);
      // A connection that is not ready holds no subscription: the next ready one subscribes only open channels.
      if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(this.prefix + topic).catch(() => {});
    };
    if (signal.aborted) {
      release();
      return iterable;
    }
    signal.addEventListener('abort', release, { once: true });

    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opened.ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), SUBSCRIBE_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message }, topic }, 'could not subscribe to events');
      // A failed subscription is not reused: the next listener tries afresh.
      if (this.channels.get(topic) === opened) this.channels.delete(topic);
      signal.removeEventListener('abort', release);
      release();
      failed.abort();
      throw new RegistryError(ErrorCode.EVENTS_UNAVAILABLE, 'Live updates are unavailable right now; try again shortly');
    } finally {
      clearTimeout(timer);
    }
    return iterable;
  }

  deliveryEpoch(): number | null {
    return this.delivering ? this.epoch : null;
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    this.channels.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}

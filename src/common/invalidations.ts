import { type EventBus } from './event-bus.js';
import { type Logger } from '../logger.js';

/** How soon listening is tried again after the bus could not be reached. */
const RETRY_MS = 5_000;

/** What a per-process cache does with what it hears. */
export interface InvalidationHandlers {
  /** A message arrived on one of the topics: drop what it names. */
  onMessage(message: unknown): void;
  /** Messages may have been missed (the bus was out of reach): drop everything. */
  onMissed(): void;
}

/**
 * How a per-process cache hears the changes of every replica: listens on `topics` of the event bus
 * (retried in the background while the bus is out of reach, never failing the start) and hands each
 * message to `onMessage`. {@link usable} tells whether the cache may be used right now: only while
 * every topic is listened to and the bus delivers (its delivery epoch is not null); when the epoch
 * changed since the previous check, `onMissed` runs first. `what` names the cache in log lines.
 */
export class InvalidationListener {
  private epoch: number | null = null;
  private listening = false;
  private retry?: NodeJS.Timeout;
  private readonly stop = new AbortController();

  constructor(
    private readonly bus: EventBus,
    private readonly topics: readonly string[],
    private readonly handlers: InvalidationHandlers,
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** Starts listening; resolves once listening or once the first attempt failed (then retried). */
  async start(): Promise<void> {
    // An attempt that gets one topic but not another lets go of the first before the next try.
    const attempt = new AbortController();
    try {
      for (const topic of this.topics) {
        const messages = await this.bus.listen(topic, AbortSignal.any([this.stop.signal, attempt.signal]));
        void (async () => {
          for await (const message of messages) this.handlers.onMessage(message);
        })().catch((error: unknown) => {
          this.listening = false;
          this.logger.warn({ err: error }, `${this.what} invalidations stopped; the cache is off`);
        });
      }
      this.listening = true;
    } catch (error) {
      attempt.abort();
      this.logger.warn({ err: { message: (error as Error).message } }, `${this.what} off until its invalidations can be received`);
      if (!this.stop.signal.aborted) {
        this.retry = setTimeout(() => void this.start(), RETRY_MS);
        this.retry.unref();
      }
    }
  }

  /** Stops listening for good: {@link usable} answers false from now on. */
  close(): void {
    clearTimeout(this.retry);
    this.listening = false;
    this.stop.abort();
  }

  /** Whether the cache may be used now; runs `onMissed` first when messages may have been missed since the last check. */
  usable(): boolean {
    if (!this.listening) return false;
    const epoch = this.bus.deliveryEpoch();
    if (epoch === null) return false;
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.handlers.onMissed();
    }
    return true;
  }
}

/**
 * Runs `tick` every `intervalSeconds`, jittered ±20% so that replicas do not wake together, until
 * stopped. A failed tick goes to `onError` and the next one is scheduled all the same; an interval
 * of 0 runs nothing. The timer never keeps the process alive.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    private readonly intervalSeconds: number,
    private readonly tick: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Schedules the next tick (after a jittered interval). */
  start(): void {
    if (this.intervalSeconds <= 0 || this.stopped) return;
    const delay = this.intervalSeconds * 1000 * (0.8 + Math.random() * 0.4);
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch(this.onError)
        .finally(() => this.start());
    }, delay);
    this.timer.unref();
  }

  /** Stops scheduling and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

import cluster, { type Worker } from 'node:cluster';
import { type Logger } from './logger.js';

/** What a worker tells its primary once it listens (see {@link announceReady}). */
interface ReadyMessage {
  type: 'registry:ready';
  /** The address the worker listens on, e.g. `http://127.0.0.1:4000`. */
  address: string;
}

function isReadyMessage(message: unknown): message is ReadyMessage {
  return typeof message === 'object' && message !== null && (message as ReadyMessage).type === 'registry:ready' && typeof (message as ReadyMessage).address === 'string';
}

/** How the primary runs its workers. */
export interface SupervisorOptions {
  /** Worker processes to keep running. */
  workers: number;
  logger: Logger;
  /** How long the workers may drain after SIGTERM before the primary kills them. */
  stopTimeoutMs: number;
  /** Workers in a row that exit before they are ready, after which the primary stops and fails. */
  maxStartFailures?: number;
  /** Delay before replacing a dead worker; it doubles with each death within `crashWindowMs`, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  crashWindowMs?: number;
}

/** The running cluster, as the primary sees it. */
export interface Supervisor {
  /** Forwards SIGTERM to every worker (they drain), kills those still running after the timeout. */
  stop(reason: string): void;
  /** Sends `signal` to every running worker (SIGHUP: reload the TLS certificate files). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the primary's exit code once every worker has exited: 0 when all drained cleanly. */
  done: Promise<number>;
}

/**
 * Runs in the cluster's primary, which serves nothing itself: forks `workers` copies of this
 * program (they share the listening socket), logs the "ready" line once all of them listen, and
 * replaces a worker that dies unexpectedly after a backoff that grows while deaths come quickly.
 * When `maxStartFailures` workers in a row exit before they are ready, the workers cannot start
 * (port taken, database or Redis unreachable): the primary stops the others and `done` resolves 1.
 */
export function superviseWorkers(options: SupervisorOptions): Supervisor {
  const { logger, workers } = options;
  const maxStartFailures = options.maxStartFailures ?? 3;
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const crashWindowMs = options.crashWindowMs ?? 60_000;

  const live = new Map<number, Worker>();
  const ready = new Set<number>();
  const restarts = new Set<NodeJS.Timeout>();
  let deaths: number[] = [];
  let startFailures = 0;
  let announced = false;
  let stopping = false;
  let exitCode = 0;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const fork = () => {
    const worker = cluster.fork();
    live.set(worker.id, worker);
    logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker starting');
    worker.on('message', (message: unknown) => {
      if (!isReadyMessage(message) || ready.has(worker.id)) return;
      ready.add(worker.id);
      startFailures = 0;
      logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready');
      if (!announced && ready.size >= workers) {
        announced = true;
        logger.info({ workers }, `Tool Registry ready at ${message.address}/graphql`);
      }
    });
  };

  const finishIfEmpty = () => {
    if (live.size > 0) return;
    logger.info({ exitCode }, 'all workers stopped');
    resolveDone(exitCode);
  };

  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    logger.info({ reason, workers: live.size }, 'stopping workers: they drain in-flight requests');
    for (const worker of live.values()) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const worker of live.values()) {
        logger.error({ worker: worker.id, workerPid: worker.process.pid }, 'worker did not stop in time; killing it');
        exitCode = 1;
        worker.process.kill('SIGKILL');
      }
    }, options.stopTimeoutMs);
    deadline.unref();
    finishIfEmpty();
  };

  cluster.on('exit', (worker, code, signal) => {
    if (!live.delete(worker.id)) return;
    const wasReady = ready.delete(worker.id);
    if (stopping) {
      // A worker stopped by our SIGTERM before it could handle it ends by that signal: still clean.
      if (code !== 0 && signal !== 'SIGTERM') exitCode = 1;
      finishIfEmpty();
      return;
    }
    if (!wasReady) {
      startFailures += 1;
      logger.error({ worker: worker.id, code, signal, startFailures }, 'worker exited before it was ready');
      if (startFailures >= maxStartFailures) {
        logger.fatal({ startFailures }, 'workers keep failing at start; giving up');
        exitCode = 1;
        stop('workers failing at start');
        return;
      }
    } else {
      logger.error({ worker: worker.id, code, signal }, 'worker died; replacing it');
    }
    const now = Date.now();
    deaths = deaths.filter((t) => now - t < crashWindowMs);
    deaths.push(now);
    const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (deaths.length - 1));
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, delay);
    restarts.add(timer);
  });

  const signal = (name: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal: name, workers: live.size }, 'forwarding signal to workers');
    for (const worker of live.values()) worker.process.kill(name);
  };

  for (let i = 0; i < workers; i += 1) fork();
  return { stop, signal, done };
}

/** In a worker: tells the primary this worker listens at `address`. A no-op outside a cluster. */
export function announceReady(address: string): void {
  const message: ReadyMessage = { type: 'registry:ready', address };
  process.send?.(message);
}

import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type EventBus, LocalEventBus, RedisEventBus } from '../../src/common/event-bus.js';
import { createLogger } from '../../src/logger.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const REDIS_URL = process.env.TEST_REDIS_URL;

/** Log lines, parsed, of the buses under test. */
const logged: { msg: string }[] = [];
const logger = createLogger(
  'warn',
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(JSON.parse(chunk.toString()) as { msg: string });
      done();
    },
  }),
);

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  logged.length = 0;
});

/** Collects what `listen` yields until the test ends. */
async function collect(bus: EventBus, topic: string): Promise<{ received: unknown[]; next(count: number, timeoutMs?: number): Promise<unknown[]> }> {
  const stop = new AbortController();
  cleanup.push(() => stop.abort());
  const messages = await bus.listen(topic, stop.signal);
  const received: unknown[] = [];
  const waiters = new Set<() => void>();
  void (async () => {
    for await (const message of messages) {
      received.push(message);
      for (const wake of waiters) wake();
    }
  })();
  return {
    received,
    /** Resolves once `count` messages have arrived in all. */
    next: (count, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(received)}, not ${count} messages`)), timeoutMs);
        const check = () => {
          if (received.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received.slice(0, count));
        };
        waiters.add(check);
        check();
      }),
  };
}

describe('LocalEventBus', () => {
  it('delivers what is published after listen resolved, in order, until the listener stops', async () => {
    const bus = new LocalEventBus();
    cleanup.push(() => bus.close());
    bus.publish('news', { n: 0 });
    const stop = new AbortController();
    const messages = (await bus.listen('news', stop.signal))[Symbol.asyncIterator]();
    bus.publish('news', { n: 1 });
    bus.publish('other', { n: 9 });
    bus.publish('news', { n: 2 });
    expect((await messages.next()).value).toEqual({ n: 1 });
    expect((await messages.next()).value).toEqual({ n: 2 });
    stop.abort();
    expect((await messages.next()).done).toBe(true);
    expect(bus.deliveryEpoch()).toBe(0);
  });
});

describe.runIf(REDIS_URL)('RedisEventBus', () => {
  const prefix = () => `test-events:${randomUUID()}:`;

  function bus(url: string, namespace: string): RedisEventBus {
    const publisher = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    publisher.on('error', () => {});
    const created = new RedisEventBus(publisher, logger, namespace);
    cleanup.push(async () => {
      await created.close();
      await publisher.quit().catch(() => publisher.disconnect());
    });
    return created;
  }

  async function proxy(): Promise<TcpProxy> {
    const started = await startTcpProxy(REDIS_URL!);
    cleanup.push(() => started.close());
    return started;
  }

  /** Publishes on `from` until `to` has received `count` messages (a publisher just connected may not be ready yet). */
  async function publishUntil(from: EventBus, topic: string, listener: { received: unknown[] }, count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (listener.received.length < count) {
      if (Date.now() > deadline) throw new Error(`received ${JSON.stringify(listener.received)}`);
      from.publish(topic, { at: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('delivers across buses of one namespace, in publishing order, and nothing across namespaces', async () => {
    const shared = prefix();
    const [one, two, stranger] = [bus(REDIS_URL!, shared), bus(REDIS_URL!, shared), bus(REDIS_URL!, prefix())];
    const onTwo = await collect(two, 'catalog');
    const onStranger = await collect(stranger, 'catalog');
    await publishUntil(one, 'catalog', onTwo, 1);
    const before = onTwo.received.length;
    for (let n = 0; n < 20; n += 1) one.publish('catalog', { n });
    const all = await onTwo.next(before + 20);
    expect(all.slice(before)).toEqual(Array.from({ length: 20 }, (_, n) => ({ n })));
    expect(onStranger.received).toEqual([]);
  });

  it('keeps a listener that subscribed while the connection was still being set up', async () => {
    // The subscriber connection's replies are held, so it stays connected but not ready; a SUBSCRIBE
    // sent then would break ioredis's ready check, and the reconnect after it would drop the channel.
    const slow = await proxy();
    slow.holdReplies();
    const listening = bus(slow.url, prefix());
    await Promise.all([slow.clientSpoke(1), slow.clientSpoke(2)]);
    const listened = collect(listening, 'catalog');
    slow.release();
    const listener = await listened;
    await publishUntil(listening, 'catalog', listener, 3);
    expect(logged.map((line) => line.msg)).not.toContain('redis event subscriber unavailable');
  });

  it('subscribes again after its connection is cut, so listeners go on receiving', async () => {
    const flaky = await proxy();
    const namespace = prefix();
    const [far, near] = [bus(REDIS_URL!, namespace), bus(flaky.url, namespace)];
    const listener = await collect(near, 'catalog');
    await publishUntil(far, 'catalog', listener, 1);
    const epoch = near.deliveryEpoch();
    expect(epoch).toEqual(expect.any(Number));

    // While it is gone, messages may be missed, and the bus says so.
    flaky.down();
    await expect.poll(() => near.deliveryEpoch()).toBeNull();
    flaky.up();
    await publishUntil(far, 'catalog', listener, listener.received.length + 1);
    expect(near.deliveryEpoch()).toBeGreaterThan(epoch!);
  });

  it('unsubscribes a channel once its last listener stops', async () => {
    const namespace = prefix();
    const listening = bus(REDIS_URL!, namespace);
    const admin = new Redis(REDIS_URL!);
    cleanup.push(() => admin.quit());
    const subscribers = async () => (await admin.pubsub('NUMSUB', `${namespace}catalog`))[1];
    const [first, second] = [new AbortController(), new AbortController()];
    await listening.listen('catalog', first.signal);
    await listening.listen('catalog', second.signal);
    expect(await subscribers()).toBe(1);
    first.abort();
    expect(await subscribers()).toBe(1);
    second.abort();
    await expect.poll(subscribers).toBe(0);
  });
});

import { ask, startHelper } from './child.ts';
import type { PeerConfig } from './peer.server.ts';

/** A running peer (see peer.server.ts). */
export interface Peer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the bare Apollo Server peer in a process of its own (NODE_ENV=production, as the registry
 * runs), configured with `config`; rejects when it cannot start.
 */
export async function startPeer(config: PeerConfig): Promise<Peer> {
  const helper = await startHelper<{ ready: true }>(new URL('./peer.server.ts', import.meta.url), [], 30_000, { NODE_ENV: 'production' });
  try {
    const { port } = await ask<{ port: number }>(helper.child, config);
    return { url: `http://127.0.0.1:${port}`, stop: () => helper.stop() };
  } catch (error) {
    await helper.stop();
    throw error;
  }
}

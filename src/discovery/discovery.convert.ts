import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, RegistryError } from '../errors.js';
import { discoveryFailed, manualFromDocument, parseJsonOrYaml } from './discovery.document.js';
import type { DiscoveryResult } from './discovery.types.js';

/** Documents of this many bytes or more are parsed and converted in a worker thread. */
export const WORKER_MIN_BYTES = 1 << 20;
/** The worker's old-generation heap: a 32 MiB description needs about a third of it. */
const WORKER_HEAP_MB = 384;
/**
 * The worker's young generation: small, so that the conversion's many short-lived objects die in
 * frequent scavenges instead of being promoted and growing the old generation (GitHub's 13 MB
 * description: ~120 MB peak growth of the process instead of ~190 MB with the default).
 */
const WORKER_YOUNG_MB = 4;

/** Longest a worker may take: past it, the document is refused as too complex. */
const WORKER_TIMEOUT_MS = 120_000;

export interface ConvertOptions {
  openApi: boolean;
  sourceUrl?: string;
  maxOperations?: number;
}

/** What the worker answers: the manual and warnings, or a registry error's parts (or nothing usable). */
export type WorkerAnswer =
  | { ok: true; result: DiscoveryResult }
  | { ok: false; code: ErrorCode; message: string; extensions: Record<string, unknown> }
  | { ok: false; code?: undefined };

/** The compiled worker: next to this module when it runs compiled, else where `npm run build` puts it. */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./discovery.worker.js', import.meta.url);
  const src = dirname(dirname(here));
  const root = basename(dirname(src)) === 'dist' ? dirname(dirname(src)) : dirname(src);
  const compiled = join(root, 'dist', 'src', 'discovery', 'discovery.worker.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\``);
  return pathToFileURL(compiled);
}

/**
 * Parses a fetched document (JSON, else YAML) and turns it into a manual (see `manualFromDocument`).
 * A document of WORKER_MIN_BYTES or more is handled in a worker thread: parsing and converting a
 * large OpenAPI description takes seconds of CPU and makes some hundred megabytes of short-lived
 * objects, which would otherwise stall every request of this process meanwhile and grow its heap
 * for good. The worker's heap and time are bounded; a document that exceeds either is
 * DISCOVERY_FAILED (`too_complex`), and `signal` (the discovery given up) ends the worker. A
 * Buffer `content` of that size is handed to the worker (detached): the caller must not use it afterwards.
 */
export async function manualFromContent(content: Buffer | string, source: string, options: ConvertOptions, signal?: AbortSignal): Promise<DiscoveryResult> {
  const size = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.byteLength;
  if (size < WORKER_MIN_BYTES) return manualFromDocument(parseJsonOrYaml(content, source), source, options);
  // Handed over without a copy when `content` is a whole buffer of its own (a fetched body is); a
  // view of a larger one is copied, so that the rest of that buffer is not taken from its owner.
  const whole = typeof content !== 'string' && content.byteOffset === 0 && content.byteLength === content.buffer.byteLength;
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : whole ? content : Uint8Array.prototype.slice.call(content);
  return new Promise<DiscoveryResult>((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(workerUrl(), {
      workerData: { bytes, source, options },
      transferList: [bytes.buffer as ArrayBuffer],
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      stdout: true,
      stderr: true,
    });
    const slow = setTimeout(() => {
      settle(() => reject(discoveryFailed('too_complex', `${source} took more than ${WORKER_TIMEOUT_MS / 1000} s to convert; publish a smaller description`)));
      void worker.terminate();
    }, WORKER_TIMEOUT_MS);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(slow);
      signal?.removeEventListener('abort', stop);
      outcome();
    };
    const stop = () => {
      settle(() => reject(signal!.reason));
      void worker.terminate();
    };
    signal?.addEventListener('abort', stop, { once: true });
    worker.once('message', (answer: WorkerAnswer) =>
      settle(() => {
        if (answer.ok) resolve(answer.result);
        else if (answer.code) reject(new RegistryError(answer.code, answer.message, answer.extensions));
        else reject(discoveryFailed('internal', `${source} could not be converted`));
      }),
    );
    worker.once('error', (error: Error & { code?: string }) =>
      settle(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? discoveryFailed('too_complex', `${source} needs more than ${WORKER_HEAP_MB} MB to convert; publish a smaller description`, { maxHeapMb: WORKER_HEAP_MB })
            : discoveryFailed('internal', `${source} could not be converted`),
        ),
      ),
    );
    worker.once('exit', () => settle(() => reject(discoveryFailed('internal', `${source} could not be converted`))));
  });
}

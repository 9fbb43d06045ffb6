import { parentPort, workerData } from 'node:worker_threads';
import { RegistryError } from '../errors.js';
import { parseManualWithWarnings } from '../utcp/manual.schema.js';
import type { ConvertOptions, WorkerAnswer } from './discovery.convert.js';
import { manualFromDocument, parseJsonOrYaml } from './discovery.document.js';
import type { DiscoveryResult } from './discovery.types.js';

/**
 * The worker thread of `manualFromContent`: parses, converts and validates one document, answers
 * once, ends. Validating here too keeps the schema check's seconds of CPU and its copy of a large
 * manual off the serving thread: only the validated manual crosses back.
 */
const data = workerData as { bytes?: Uint8Array; source: string; options: ConvertOptions };
const { source, options } = data;
let answer: WorkerAnswer;
try {
  answer = { ok: true, result: await convertAndValidate() };
} catch (error) {
  // Only registry errors carry a message meant for the caller; anything else is a bug, told as such.
  answer = error instanceof RegistryError ? { ok: false, code: error.code, message: error.message, extensions: withoutCode(error.extensions) } : { ok: false };
}
parentPort!.postMessage(answer);

async function convertAndValidate(): Promise<DiscoveryResult> {
  const converted = await manualFromDocument(parseJsonOrYaml(takeContent(), source), source, options);
  const { manual, warnings } = parseManualWithWarnings(converted.manual);
  return { manual, warnings: [...converted.warnings, ...warnings], validated: true };
}

/** The document's bytes, no longer held by `workerData`: garbage once parsed, not for the whole conversion. */
function takeContent(): Buffer {
  const bytes = data.bytes!;
  data.bytes = undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function withoutCode(extensions: Record<string, unknown>): Record<string, unknown> {
  const { code: _code, ...rest } = extensions;
  return rest;
}

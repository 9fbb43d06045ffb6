import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, RegistryError } from '../errors.js';
import { discoveryFailed, manualFromDocument, parseJsonOrYaml, requiredString } from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

/**
 * `file`: as the reference, reads `file_path` (relative paths are taken from the configured root) as
 * a UTCP manual or an OpenAPI 2/3 document in JSON or YAML. Unlike the reference, only files inside
 * `fileRoot` may be read: symlinks are resolved with realpath before the check (so neither `..` nor
 * a link leads out), only regular files are read, and at most `maxBytes`. Without a root, `file`
 * discovery is refused. Messages name the path as the template gave it, never the resolved one.
 */
export const discoverFile: Discoverer = async (template, context) => {
  const filePath = requiredString(template, 'file_path');
  const { fileRoot, maxBytes } = context.options;
  if (!fileRoot) {
    throw discoveryFailed('file_not_allowed', 'File discovery is disabled: no file root is configured for this registry');
  }
  const root = await realpath(fileRoot).catch(() => {
    throw discoveryFailed('file_not_allowed', 'File discovery is unavailable: the configured file root does not exist');
  });
  const shown = JSON.stringify(filePath);
  const outside = () => discoveryFailed('file_not_allowed', `The file ${shown} is outside the directory manuals may be read from`);
  if (filePath.includes('\0')) throw outside();
  const requested = path.resolve(root, filePath);
  if (!isInside(root, requested)) throw outside();
  let target: string;
  try {
    target = await realpath(requested);
  } catch {
    throw discoveryFailed('not_found', `The file ${shown} does not exist`);
  }
  if (!isInside(root, target)) throw outside();

  // O_NOFOLLOW: the final component was resolved above, so a symlink there now means it was swapped in.
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => {
    throw discoveryFailed('not_found', `The file ${shown} could not be opened`);
  });
  let content: Buffer;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw discoveryFailed('not_found', `${shown} is not a regular file`);
    if (info.size > maxBytes) throw tooLarge(shown, maxBytes);
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      // The file may have grown since stat.
      if (length > maxBytes) throw tooLarge(shown, maxBytes);
    }
    content = Buffer.concat(chunks, length);
  } finally {
    await handle.close();
  }
  const source = `The file ${shown}`;
  return manualFromDocument(parseJsonOrYaml(content, source), source, { openApi: true });
};

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

function tooLarge(shown: string, maxBytes: number): RegistryError {
  return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The file ${shown} is larger than ${maxBytes} bytes`, { maxBytes });
}

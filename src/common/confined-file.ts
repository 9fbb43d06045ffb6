import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';

/** Why {@link readConfinedFile} refused to read a file. */
export type ConfinedFileRefusal =
  /** No root directory is configured: every file is refused. */
  | 'no_root'
  /** The configured root does not exist (or cannot be resolved). */
  | 'root_missing'
  /** The path leads outside the root, by `..`, an absolute path or a symlink. */
  | 'outside'
  /** Nothing exists at the path. */
  | 'not_found'
  /** The file exists but could not be opened (permissions, or swapped for a symlink after the check). */
  | 'unreadable'
  /** Not a regular file (a directory, a device, a FIFO). */
  | 'not_a_file'
  /** Larger than `maxBytes`. */
  | 'too_large';

/**
 * Reads `filePath` (a relative path is taken from `root`) when it is a regular file inside `root`:
 * symlinks are resolved with realpath before the check, so neither `..` nor a link leads out; the
 * resolved file is opened with O_NOFOLLOW (a link swapped in after the check is refused), and at most
 * `maxBytes` are read (the file may grow after `stat`). Every refusal throws what `refuse(reason)`
 * returns, so each caller chooses its error code and wording (and never shows the resolved path).
 */
export async function readConfinedFile(
  root: string | undefined,
  filePath: string,
  maxBytes: number,
  refuse: (reason: ConfinedFileRefusal) => Error,
): Promise<Buffer> {
  if (!root) throw refuse('no_root');
  const realRoot = await realpath(root).catch(() => {
    throw refuse('root_missing');
  });
  if (filePath.includes('\0')) throw refuse('outside');
  const requested = path.resolve(realRoot, filePath);
  if (!isInside(realRoot, requested)) throw refuse('outside');
  let target: string;
  try {
    target = await realpath(requested);
  } catch {
    throw refuse('not_found');
  }
  if (!isInside(realRoot, target)) throw refuse('outside');

  // O_NOFOLLOW: the final component was resolved above, so a symlink there now means it was swapped in.
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below as not a regular file.
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => {
    throw refuse('unreadable');
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refuse('not_a_file');
    if (info.size > maxBytes) throw refuse('too_large');
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      // The file may have grown since stat.
      if (length > maxBytes) throw refuse('too_large');
    }
    return Buffer.concat(chunks, length);
  } finally {
    await handle.close();
  }
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

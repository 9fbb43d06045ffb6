import { readConfinedFile } from '../common/confined-file.js';
import { ErrorCode, RegistryError } from '../errors.js';
import type { Executor } from './executor.types.js';
import { jsonOrText } from './http.request.js';

/**
 * `file`: returns the content of the template's `file_path` (UTF-8; a relative path is taken from the
 * file root), as python-utcp's FileCommunicationProtocol.call_tool does (the arguments are ignored).
 * Unlike the reference, only files inside `request.fileRoot` are read, with the same confinement as
 * file discovery ({@link readConfinedFile}: realpath before the check, so neither `..` nor a symlink
 * leads out; regular files only; at most `maxBytes`); without a root every `file` tool is refused;
 * and content that is JSON is returned parsed. Messages name the path as the template gave it.
 *
 * Throws EGRESS_DENIED `file_not_allowed` (no root configured, or a path outside it),
 * UPSTREAM_UNAVAILABLE (`root_missing`, `not_found`, `unreadable`, `not_a_file`; `cancelled: true` when
 * the call was already cancelled), UPSTREAM_TOO_LARGE, or EXECUTION_FAILED `invalid_template` (no
 * `file_path`).
 */
export const executeFile: Executor = async (request) => {
  if (request.signal?.aborted) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" was cancelled`, { cancelled: true });
  const filePath = request.callTemplate.file_path;
  if (typeof filePath !== 'string' || filePath === '') {
    throw new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" has an invalid file call template: \`file_path\` must be a non-empty string`, {
      reason: 'invalid_template',
    });
  }
  const shown = JSON.stringify(filePath);
  const { maxBytes } = request;
  const content = await readConfinedFile(request.fileRoot, filePath, maxBytes, (reason) => {
    switch (reason) {
      case 'no_root':
        return new RegistryError(ErrorCode.EGRESS_DENIED, 'File tools are disabled: no file root is configured for this registry', { reason: 'file_not_allowed' });
      case 'outside':
        return new RegistryError(ErrorCode.EGRESS_DENIED, `The file ${shown} is outside the directory file tools may read`, { reason: 'file_not_allowed' });
      case 'root_missing':
        return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, 'File tools are unavailable: the configured file root does not exist', { reason: 'root_missing' });
      case 'not_found':
        return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The file ${shown} does not exist`, { reason: 'not_found' });
      case 'unreadable':
        return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `The file ${shown} could not be opened`, { reason: 'unreadable' });
      case 'not_a_file':
        return new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `${shown} is not a regular file`, { reason: 'not_a_file' });
      case 'too_large':
        return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The file ${shown} is larger than ${maxBytes} bytes`, { maxBytes });
      default:
        return reason satisfies never;
    }
  });
  return { result: jsonOrText(content.toString('utf8')), bytes: content.length };
};

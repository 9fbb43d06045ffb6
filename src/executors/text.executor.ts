import { ErrorCode, RegistryError } from '../errors.js';
import type { Executor } from './executor.types.js';
import { jsonOrText } from './http.request.js';

/**
 * `text`: returns the template's inline `content`, as python-utcp's TextCommunicationProtocol.call_tool
 * does (the arguments are ignored). Unlike the reference, content that is JSON is returned parsed
 * (as every executor's result is), and content larger than `maxBytes` (UTF-8) is refused.
 *
 * Throws UPSTREAM_TOO_LARGE, EXECUTION_FAILED `invalid_template` when `content` is not a string, or
 * UPSTREAM_UNAVAILABLE (`cancelled: true`) when the call was already cancelled.
 */
export const executeText: Executor = async (request) => {
  if (request.signal?.aborted) throw new RegistryError(ErrorCode.UPSTREAM_UNAVAILABLE, `Call of "${request.toolName}" was cancelled`, { cancelled: true });
  const { content } = request.callTemplate;
  if (typeof content !== 'string') {
    throw new RegistryError(ErrorCode.EXECUTION_FAILED, `Tool "${request.toolName}" has an invalid text call template: \`content\` must be a string`, {
      reason: 'invalid_template',
    });
  }
  const bytes = Buffer.byteLength(content, 'utf8');
  if (bytes > request.maxBytes) {
    throw new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The content of tool "${request.toolName}" is ${bytes} bytes, more than ${request.maxBytes}`, {
      maxBytes: request.maxBytes,
    });
  }
  return { result: jsonOrText(content), bytes };
};

import { ErrorCode, RegistryError } from '../errors.js';
import { manualFromContent } from './discovery.convert.js';
import { discoveryFailed } from './discovery.document.js';
import type { Discoverer } from './discovery.types.js';

/**
 * `text`: as the reference, the template's inline `content` is a UTCP manual or an OpenAPI 2/3
 * document, in JSON or YAML (OpenAPI is converted; with no source URL its servers must be absolute).
 * Content larger than `maxBytes` is refused.
 */
export const discoverText: Discoverer = async (template, context) => {
  const content = template.content;
  if (typeof content !== 'string' || !content.trim()) {
    throw discoveryFailed('invalid_template', 'The text call template has no `content`; put the manual or OpenAPI document in it');
  }
  const size = Buffer.byteLength(content, 'utf8');
  if (size > context.options.maxBytes) {
    throw new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The text call template's content is ${size} bytes, more than ${context.options.maxBytes}`, {
      maxBytes: context.options.maxBytes,
    });
  }
  const source = "The text call template's content";
  return context.offTheClock(() => manualFromContent(content, source, { openApi: true, maxOperations: context.options.openApiMaxOperations }, context.signal));
};

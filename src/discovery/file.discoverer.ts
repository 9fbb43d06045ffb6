import { readConfinedFile } from '../common/confined-file.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { manualFromContent } from './discovery.convert.js';
import { discoveryFailed, requiredString } from './discovery.document.js';
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
  const shown = JSON.stringify(filePath);
  const content = await readConfinedFile(fileRoot, filePath, maxBytes, (reason) => {
    switch (reason) {
      case 'no_root':
        return discoveryFailed('file_not_allowed', 'File discovery is disabled: no file root is configured for this registry');
      case 'root_missing':
        return discoveryFailed('file_not_allowed', 'File discovery is unavailable: the configured file root does not exist');
      case 'outside':
        return discoveryFailed('file_not_allowed', `The file ${shown} is outside the directory manuals may be read from`);
      case 'not_found':
        return discoveryFailed('not_found', `The file ${shown} does not exist`);
      case 'unreadable':
        return discoveryFailed('not_found', `The file ${shown} could not be opened`);
      case 'not_a_file':
        return discoveryFailed('not_found', `${shown} is not a regular file`);
      case 'too_large':
        return new RegistryError(ErrorCode.UPSTREAM_TOO_LARGE, `The file ${shown} is larger than ${maxBytes} bytes`, { maxBytes });
      default:
        return reason satisfies never;
    }
  });
  const source = `The file ${shown}`;
  return context.offTheClock(() => manualFromContent(content, source, { openApi: true, maxOperations: context.options.openApiMaxOperations }, context.signal));
};

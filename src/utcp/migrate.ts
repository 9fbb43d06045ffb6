/** The UTCP version a migrated 0.1 manual declares. */
export const MIGRATED_UTCP_VERSION = '1.1.0';

/** UTCP 0.1 `provider_type`s and the 1.1 `call_template_type` each became. */
const TYPE_RENAMES: Record<string, string> = {
  http_stream: 'streamable_http',
  // 0.1 `text` read a file; 1.1 `text` carries the content itself and `file` reads a file.
  text: 'file',
};

/** 0.1 provider types with no 1.1 call template this registry reads. */
const UNMIGRATABLE_TYPES = new Set(['grpc', 'tcp', 'udp', 'webrtc']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Quotes short, plain values in a warning; anything else is described, never echoed. */
function quote(value: unknown): string {
  return typeof value === 'string' && value.length <= 64 && /^[\w.+-]*$/.test(value) ? JSON.stringify(value) : 'its value';
}

/**
 * True when `input` is a UTCP 0.1 manual: a `version` (instead of `utcp_version`), a
 * `provider_info`, a 0.x `utcp_version`, or tools described by a `tool_provider` (or the spec's
 * 0.1 example form, `provider`). A manual that declares a 1.x `utcp_version` is never legacy:
 * its 0.1 fields are errors, reported by validation.
 */
export function isLegacyManual(input: unknown): boolean {
  if (!isObject(input)) return false;
  const declared = input.utcp_version;
  if (declared !== undefined) return typeof declared === 'string' && /^\s*0\./.test(declared);
  if ('version' in input || 'provider_info' in input) return true;
  return (
    Array.isArray(input.tools) &&
    input.tools.some((tool) => isObject(tool) && ('tool_provider' in tool || ('provider' in tool && !('tool_call_template' in tool))))
  );
}

/** Counts each kind of change, to report it once with the number of tools it touched. */
class Changes {
  private readonly counts = new Map<string, number>();

  add(change: string): void {
    this.counts.set(change, (this.counts.get(change) ?? 0) + 1);
  }

  render(): string[] {
    return [...this.counts].map(([change, n]) => `${change} (${n} tool${n === 1 ? '' : 's'})`);
  }
}

/** Rewrites one 0.1 provider as a 1.1 call template, recording what changed. */
function migrateProvider(provider: unknown, changes: Changes): unknown {
  if (!isObject(provider)) return provider;
  const { provider_type: providerType, ...rest } = provider;
  let template: Record<string, unknown> = rest;
  let type = rest.call_template_type;
  if (providerType !== undefined && type === undefined) {
    type = typeof providerType === 'string' ? (TYPE_RENAMES[providerType] ?? providerType) : providerType;
    template = { call_template_type: type, ...rest };
    changes.add('`provider_type` renamed `call_template_type`');
    if (providerType === 'http_stream') changes.add('`http_stream` call templates renamed `streamable_http`');
    if (providerType === 'text') changes.add('`text` providers (which read `file_path`) became `file` call templates');
    if (typeof providerType === 'string' && UNMIGRATABLE_TYPES.has(providerType)) {
      changes.add(`\`${providerType}\` providers have no UTCP 1.1 call template here and were left as they were`);
    }
  }
  switch (type) {
    case 'http':
      if (typeof template.method === 'string' && template.http_method === undefined) {
        const { method, ...others } = template;
        template = { ...others, http_method: (method as string).toUpperCase() };
        changes.add('http `method` renamed `http_method`');
      }
      break;
    case 'cli':
      if (typeof template.command_name === 'string' && template.commands === undefined) {
        const { command_name: command, ...others } = template;
        template = { ...others, commands: [{ command }] };
        changes.add('cli `command_name` became `commands: [{ command }]`');
      }
      break;
    case 'websocket': {
      const { request_data_format: format, request_data_template: body, ...others } = template;
      if (format === 'text' && typeof body === 'string' && others.message === undefined) {
        template = { ...others, message: body };
        changes.add('websocket `request_data_template` became `message`');
      } else if (format === 'json' && body === undefined) {
        // JSON arguments are what 1.1 sends when no `message` is given.
        template = others;
        changes.add('websocket `request_data_format: "json"` dropped (the 1.1 default)');
      }
      if (typeof template.timeout === 'number' && template.timeout >= 1000) {
        // 0.1 counted milliseconds, 1.1 counts seconds.
        template = { ...template, timeout: Math.ceil(template.timeout / 1000) };
        changes.add('websocket `timeout` converted from milliseconds to seconds');
      }
      break;
    }
    default:
      break;
  }
  return template;
}

/** Rewrites one 0.1 tool as a 1.1 tool, recording what changed. */
function migrateTool(tool: unknown, changes: Changes): unknown {
  if (!isObject(tool)) return tool;
  let result: Record<string, unknown> = { ...tool };
  if ('tool_provider' in result && !('tool_call_template' in result)) {
    const { tool_provider: provider, ...others } = result;
    changes.add('`tool_provider` renamed `tool_call_template`');
    result = { ...others, tool_call_template: migrateProvider(provider, changes) };
  } else if ('provider' in result && !('tool_call_template' in result)) {
    const { provider, ...others } = result;
    changes.add('`provider` renamed `tool_call_template`');
    result = { ...others, tool_call_template: migrateProvider(provider, changes) };
  }
  if ('parameters' in result && !('inputs' in result)) {
    const { parameters, ...others } = result;
    result = { ...others, inputs: parameters };
    changes.add('`parameters` renamed `inputs`');
  }
  return result;
}

/**
 * Rewrites a UTCP 0.1 manual in the UTCP 1.1 shape: `version` (or `provider_info.version`)
 * becomes `manual_version` and `utcp_version` is set to 1.1.0, `provider_info` becomes `info`,
 * each `tool_provider` becomes a `tool_call_template` (`provider_type` → `call_template_type`,
 * `http_stream` → `streamable_http`, 0.1 `text` → `file`, cli `command_name` →
 * `commands: [{ command }]`, websocket `request_data_template` → `message` and milliseconds →
 * seconds). Returns the result unvalidated, with one warning per kind of change for the caller to
 * pass on; input that is not a 0.1 manual is returned as it is, without warnings. Never throws and
 * never modifies `input`.
 */
export function migrateLegacyManual(input: unknown): { manual: unknown; warnings: string[] } {
  if (!isObject(input) || !isLegacyManual(input)) return { manual: input, warnings: [] };
  const { version, provider_info: providerInfo, utcp_version: _declared, ...rest } = input;
  const warnings = [`Migrated a UTCP 0.1 manual to UTCP ${MIGRATED_UTCP_VERSION}; check the result before relying on it.`];
  const manual: Record<string, unknown> = { utcp_version: MIGRATED_UTCP_VERSION, ...rest };

  const infoVersion = isObject(providerInfo) ? providerInfo.version : undefined;
  const manualVersion = [infoVersion, version, rest.manual_version].find((v) => typeof v === 'string' && v.trim() !== '');
  if (manualVersion !== undefined) manual.manual_version = manualVersion;
  if (version !== undefined) {
    warnings.push(
      `The UTCP 0.1 \`version\` ${quote(version)} is ${manualVersion === version ? 'kept as `manual_version`' : 'dropped'}; the manual now declares \`utcp_version\` "${MIGRATED_UTCP_VERSION}".`,
    );
  }
  if (providerInfo !== undefined) {
    if (isObject(providerInfo)) {
      const { name, version: _version, ...info } = providerInfo;
      manual.info = { ...(name !== undefined ? { title: name } : {}), ...info, ...(infoVersion !== undefined ? { version: infoVersion } : {}) };
    }
    warnings.push('`provider_info` became `info` (`name` → `title`), and its `version` the `manual_version`.');
  }

  if (Array.isArray(rest.tools)) {
    const changes = new Changes();
    manual.tools = rest.tools.map((tool) => migrateTool(tool, changes));
    warnings.push(...changes.render().map((change) => `${change}.`));
  }
  return { manual, warnings };
}

import type { ExecutionRequest } from '../../src/executors/executor.types.js';
import { CallTemplateType } from '../../src/modules/provider/index.js';
import type { EgressPolicy } from '../../src/security/egress.js';

/** A UTCP 1.1 tool for a manual; any field can be overridden. */
export function manualTool(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'lookup',
    description: 'Looks something up.',
    tags: [],
    inputs: { type: 'object', properties: { q: { type: 'string' } } },
    outputs: { type: 'object' },
    tool_call_template: { call_template_type: 'http', url: 'https://api.example.com/lookup', http_method: 'GET' },
    ...overrides,
  };
}

/** A `cli` tool that echoes its one required argument `msg` (needs `REGISTRY_CLI_ALLOW=echo`). */
export function echoCliTool(name = 'echo'): Record<string, unknown> {
  return manualTool({
    name,
    inputs: { type: 'object', properties: { msg: { type: 'string' } }, required: ['msg'] },
    outputs: { type: 'string' },
    tool_call_template: { call_template_type: 'cli', commands: [{ command: 'echo UTCP_ARG_msg_UTCP_END' }] },
  });
}

/** A UTCP 1.1 manual holding `tools` (one default tool when omitted). */
export function manual(tools: Record<string, unknown>[] = [manualTool()], overrides: Record<string, unknown> = {}) {
  return { utcp_version: '1.1.0', manual_version: '1.0.0', tools, ...overrides };
}

/** The template a test import names as the manual's origin. */
export const INLINE_MANUAL = { call_template_type: CallTemplateType.TEXT };

/** Egress that reaches the test's own peers on 127.0.0.1 and nothing else private. */
export const LOOPBACK_EGRESS: EgressPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'] };

/** A request for an executor: a `type` template, 3 s, 64 KiB, loopback egress, no executables; `extra` overrides. */
export function executionRequest(
  toolName: string,
  type: string,
  template: Record<string, unknown>,
  args: Record<string, unknown> = {},
  extra: Partial<ExecutionRequest> = {},
): ExecutionRequest {
  return {
    toolName,
    callTemplate: { call_template_type: type, ...template },
    arguments: args,
    timeoutMs: 3000,
    maxBytes: 64 * 1024,
    egress: LOOPBACK_EGRESS,
    cliAllow: [],
    ...extra,
  };
}

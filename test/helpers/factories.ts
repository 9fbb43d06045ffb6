import { CallTemplateType } from '../../src/modules/provider/index.js';

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

/** A UTCP 1.1 manual holding `tools` (one default tool when omitted). */
export function manual(tools: Record<string, unknown>[] = [manualTool()], overrides: Record<string, unknown> = {}) {
  return { utcp_version: '1.1.0', manual_version: '1.0.0', tools, ...overrides };
}

/** The template a test import names as the manual's origin. */
export const INLINE_MANUAL = { call_template_type: CallTemplateType.TEXT };

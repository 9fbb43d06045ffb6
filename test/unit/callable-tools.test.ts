import { describe, expect, it } from 'vitest';
import { type CallableTool } from '../../src/modules/execution/execution.admit.js';
import { CallableTools } from '../../src/modules/execution/execution.callables.js';
import { ToolStatus } from '../../src/modules/tool/index.js';
import { NOTHING_READABLE } from '../../src/modules/tool/tool.visibility.js';

function tool(name: string, extra: Partial<CallableTool> = {}): CallableTool {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    name,
    providerId: '00000000-0000-4000-8000-000000000002',
    providerName: 'p',
    inputs: { type: 'object', properties: { q: { type: 'string' } } },
    outputs: null,
    tags: ['a'],
    callTemplate: { call_template_type: 'http', url: 'https://example.com', headers: { accept: 'application/json' } },
    enabled: true,
    status: ToolStatus.ACTIVE,
    definitionHash: 'h',
    credentials: [{ reference: 'auth', authType: 'api_key', settings: {}, ciphertext: 'c', keyId: 'k' }],
    variables: [],
    tlsPins: [],
    requestSigning: 'off',
    version: '1;2;3;',
    ...extra,
  };
}

describe('remembered tools', () => {
  it('are kept per name and read filter: a caller with another filter does not get another caller’s entry', () => {
    const tools = new CallableTools();
    const byPattern = { sql: `t.name like ? escape '\\'`, params: ['p.%'] };
    tools.remember('p.t', byPattern, tool('p.t'));
    expect(tools.get('p.t', byPattern)?.name).toBe('p.t');
    expect(tools.get('p.t', { sql: byPattern.sql, params: ['q.%'] })).toBeUndefined();
    expect(tools.get('p.t', null)).toBeUndefined();
    expect(tools.get('p.t', NOTHING_READABLE)).toBeUndefined();
    expect(tools.get('p.other', byPattern)).toBeUndefined();
    tools.forget('p.t', byPattern);
    expect(tools.get('p.t', byPattern)).toBeUndefined();
  });

  it('are frozen through and through, so no call can change what the next one is decided on', () => {
    const tools = new CallableTools();
    tools.remember('p.t', null, tool('p.t'));
    const kept = tools.get('p.t', null)!;
    expect(() => ((kept.callTemplate.headers as Record<string, string>).accept = 'text/html')).toThrow(TypeError);
    expect(() => kept.tags.push('b')).toThrow(TypeError);
    expect(() => (kept.credentials[0]!.keyId = 'other')).toThrow(TypeError);
    expect(() => ((kept.inputs as { type: string }).type = 'string')).toThrow(TypeError);
  });

  it('do not keep a tool larger than their whole budget', () => {
    const tools = new CallableTools();
    tools.remember('p.huge', null, tool('p.huge', { inputs: { description: 'x'.repeat(9 * 1024 * 1024) } }));
    expect(tools.get('p.huge', null)).toBeUndefined();
  });
});

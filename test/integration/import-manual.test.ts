import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualValidationError } from '../../src/errors.js';
import { AuditEntry, AuditService } from '../../src/modules/audit/index.js';
import { Tool, ToolService, ToolVersion } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { rejectionOf } from '../helpers/errors.js';

const FIXTURES = new URL('../fixtures/utcp/', import.meta.url);

async function fixture(name: string): Promise<unknown> {
  return JSON.parse(await readFile(new URL(name, FIXTURES), 'utf8'));
}

let registry: TestRegistry;
const service = () => new ToolService(registry.db.fork());

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ManualValidationError);

beforeAll(async () => {
  registry = await startRegistry();
});

afterAll(() => registry?.close());

describe('importing a UTCP manual', () => {
  it('stores the tools of a real third-party UTCP 1.0 manual under the provider name', async () => {
    const result = await service().importManual('newsapi', await fixture('newsapi_manual.json'), INLINE_MANUAL);
    expect(result.created).toEqual(['newsapi.everything_get', 'newsapi.top_headlines_get']);
    const res = await registry.graphql<{ tool: { tags: string[]; inputs: { properties: Record<string, unknown> }; callTemplateType: string } }>(
      '{ tool(name: "newsapi.everything_get") { tags inputs callTemplateType } }',
    );
    expect(res.data!.tool.tags).toEqual(['articles']);
    expect(Object.keys(res.data!.tool.inputs.properties)).toContain('q');
    expect(res.data!.tool.callTemplateType).toBe('HTTP');
  });

  it('accepts a manual whose tool uses an MCP call template', async () => {
    const result = await service().importManual('playwright', await fixture('mcp_manual.json'), INLINE_MANUAL);
    expect(result.created).toEqual(['playwright.mcp_playwright']);
  });

  it('refuses the removed `command_name` of CLI templates, naming the JSON path', async () => {
    const error = await rejection(service().importManual('legacy_cli', await fixture('cli_manual_legacy.json'), INLINE_MANUAL));
    expect(error.extensions.code).toBe('INVALID_MANUAL');
    expect(error.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['$.tools[0].tool_call_template.commands']),
    );
    expect(await service().findByName('legacy_cli.my_cli_tool')).toBeNull();
  });

  it('refuses a UTCP 0.1 manual with its own code', async () => {
    const error = await rejection(service().importManual('theirstack', await fixture('theirstack_manual_v0_1.json'), INLINE_MANUAL));
    expect(error.extensions.code).toBe('UNSUPPORTED_UTCP_VERSION');
  });

  it('refuses secrets written inline in an auth block', async () => {
    const leaky = manualTool({
      tool_call_template: {
        call_template_type: 'http',
        url: 'https://api.example.com',
        http_method: 'GET',
        auth: { auth_type: 'api_key', api_key: 'sk-live-123456', var_name: 'X-Api-Key', location: 'header' },
      },
    });
    const error = await rejection(service().importManual('leaky', manual([leaky]), INLINE_MANUAL));
    expect(error.problems).toEqual([{ path: '$.tools[0].tool_call_template.auth.api_key', message: expect.stringContaining('variable') }]);
    expect(error.message).not.toContain('sk-live-123456');
  });

  it('refuses duplicate tool names and bad provider names', async () => {
    const error = await rejection(service().importManual('dupes', manual([manualTool(), manualTool()]), INLINE_MANUAL));
    expect(error.problems[0]).toEqual({ path: '$.tools[1].name', message: 'duplicates $.tools[0].name' });
    await expect(service().importManual('bad name!', manual(), INLINE_MANUAL)).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('versions changed tools, keeps unchanged ones and removes those no longer listed', async () => {
    const first = await service().importManual(
      'evolving',
      manual([manualTool({ name: 'a' }), manualTool({ name: 'b' }), manualTool({ name: 'c' })]),
      INLINE_MANUAL,
    );
    expect(first.created).toEqual(['evolving.a', 'evolving.b', 'evolving.c']);
    const original = await service().findByName('evolving.b');

    const second = await service().importManual(
      'evolving',
      manual([manualTool({ name: 'a' }), manualTool({ name: 'b', description: 'Looks things up, faster.' })]),
      INLINE_MANUAL,
    );
    expect(second).toMatchObject({ unchanged: ['evolving.a'], updated: ['evolving.b'], removed: ['evolving.c'], created: [] });
    const changed = await service().findByName('evolving.b');
    expect(changed!.version).toBe(2);
    expect(changed!.definitionHash).not.toBe(original!.definitionHash);
    const versions = await registry.db.fork().find(ToolVersion, { tool: changed!.id }, { orderBy: { version: 'asc' } });
    expect(versions.map((v) => [v.version, v.definitionHash])).toEqual([
      [1, original!.definitionHash],
      [2, changed!.definitionHash],
    ]);
    // Vanished tools stay, with their history, out of the default listing and not callable.
    expect((await service().findByName('evolving.c'))!.status).toBe('removed');
    const listed = await service().list({ first: 100, filter: { provider: 'evolving' } });
    expect(listed.edges.map((e) => e.node.name)).toEqual(['evolving.a', 'evolving.b']);
  });

  it('leaves the catalog as it was when a manual is refused', async () => {
    await service().importManual('stable', manual([manualTool({ name: 'keep' })]), INLINE_MANUAL);
    const before = await registry.db.fork().count(Tool, {});
    await rejection(service().importManual('stable', manual([manualTool({ name: 'x', tool_call_template: { call_template_type: 'http' } })]), INLINE_MANUAL));
    expect(await registry.db.fork().count(Tool, {})).toBe(before);
    expect(await service().findByName('stable.keep')).not.toBeNull();
  });

  it('records each import in the audit chain, which verifies and cannot be rewritten', async () => {
    const em = registry.db.fork();
    const entries = await em.find(AuditEntry, { action: 'catalog.importManual' }, { orderBy: { seq: 'asc' } });
    expect(entries.length).toBeGreaterThanOrEqual(4);
    expect(entries.every((e) => e.outcome === 'success')).toBe(true);
    expect(await new AuditService(registry.db.fork()).verify()).toMatchObject({ valid: true, firstBrokenSeq: null });
    await expect(em.execute(`update audit_entry set action = 'forged'`)).rejects.toThrow(/append-only/);
    await expect(em.execute(`delete from audit_entry`)).rejects.toThrow(/append-only/);
  });
});

import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolService } from '../../src/modules/tool/index.js';
import { INLINE_MANUAL, manual, manualTool } from '../helpers/factories.js';
import { startRegistry, type TestClient, type TestRegistry } from '../helpers/registry.js';
import { HAS_PRIVATE_POSTGRES, type PrivatePostgres, startPrivatePostgres } from './helpers/servers.js';

// The registry's PostgreSQL (a private one, never the machine's shared server) stopped: every
// public surface answers a retryable 503 with Retry-After and a stable code, in its own protocol's
// shape, the log says so once per change of state instead of once per request, and once the
// database is back the same registry serves again.

/** Every JSON log line the registry wrote. */
class LogCapture extends Writable {
  readonly lines: { msg?: string; level?: number; err?: unknown }[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) this.lines.push(JSON.parse(line) as LogCapture['lines'][number]);
    done();
  }
  count(msg: string): number {
    return this.lines.filter((l) => l.msg === msg).length;
  }
}

describe.runIf(HAS_PRIVATE_POSTGRES)('while the database is unavailable', () => {
  let pg: PrivatePostgres;
  let registry: TestRegistry;
  let client: TestClient;
  let agent: string;
  const log = new LogCapture();

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    registry = await startRegistry({ databaseServerUrl: pg.url, logStream: log, env: { LOG_LEVEL: 'info' } });
    await new ToolService(registry.db.fork()).importManual(
      'outage',
      manual([manualTool({ name: 'echo', inputs: { type: 'object' }, outputs: {}, tool_call_template: { call_template_type: 'text', content: '"ok"' } })]),
      INLINE_MANUAL,
    );
    client = await registry.createClient({ roles: ['agent'] });
    agent = (await registry.tokenFor(client)).access_token;
  }, 120_000);

  afterAll(async () => {
    await registry?.close().catch(() => undefined);
    await pg?.remove();
  });

  const bearer = () => ({ authorization: `Bearer ${agent}` });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${registry.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(), ...headers }, body: JSON.stringify(body) });
  const token = () =>
    fetch(`${registry.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }).toString(),
    });

  it('answers 503 + Retry-After (UNAVAILABLE, temporarily_unavailable), logs one line per state change, and serves again when it is back', { timeout: 120_000 }, async () => {
    expect((await registry.graphql('{ me { scopes } }', {}, bearer())).status).toBe(200);
    const linesBefore = log.lines.length;
    await pg.stop();

    for (let round = 0; round < 3; round += 1) {
      // GraphQL: a query, a mutation (an execution), as an authenticated caller.
      for (const query of ['{ me { scopes } }', 'mutation { executeTool(input: { tool: "outage.echo", arguments: {} }) { id status } }']) {
        const response = await post('/graphql', { query });
        expect(response.status, query).toBe(503);
        expect(response.headers.get('retry-after')).toBe('2');
        const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
        expect(body.errors).toHaveLength(1);
        expect(body.errors[0]!.extensions).toEqual({ code: 'UNAVAILABLE', retryAfterSeconds: 2 });
        expect(body.errors[0]!.message).toMatch(/database/);
        expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|stack|127\.0\.0\.1/);
      }
      // Without a token the refusal needs no database: it stays a 401.
      expect((await post('/graphql', { query: '{ me { scopes } }' }, { authorization: '' })).status).toBe(401);

      // The token endpoint answers in RFC 6749's terms, never GraphQL's.
      const refused = await token();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('2');
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(await refused.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/retry after 2 s/) });

      // UTCP: the manual and a call through the registry.
      const manualResponse = await fetch(`${registry.url}/utcp`, { headers: bearer() });
      expect(manualResponse.status).toBe(503);
      expect(manualResponse.headers.get('retry-after')).toBe('2');
      expect(await manualResponse.json()).toMatchObject({ error: { code: 'UNAVAILABLE', details: { retryAfterSeconds: 2 } } });
      const call = await post('/tools/outage.echo/call', {});
      expect(call.status).toBe(503);
      expect(call.headers.get('retry-after')).toBe('2');
      expect(await call.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });

      // MCP: a JSON-RPC error carrying the code. Refused before the MCP server takes the message, it
      // is a 503 with Retry-After; once the server handles it (the caller's token holder is held in
      // memory, so authentication needs no database), the protocol's own answer: HTTP 200 with the error.
      const mcp = await post('/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { accept: 'application/json, text/event-stream' });
      const mcpText = await mcp.text();
      const mcpBody = JSON.parse(/^data: (.*)$/m.exec(mcpText)?.[1] ?? mcpText) as unknown;
      if (mcp.status === 503) expect(mcp.headers.get('retry-after')).toBe('2');
      else expect(mcp.status).toBe(200);
      expect(mcpBody).toMatchObject({ jsonrpc: '2.0', id: 1, error: { data: { code: 'UNAVAILABLE' } } });
      expect(mcpText).not.toMatch(/ECONNREFUSED|stack|127\.0\.0\.1/);

      expect((await fetch(`${registry.url}/readyz`)).status).toBe(503);
    }

    // One line for the outage, none per request: no stack, no "unexpected error".
    const during = log.lines.slice(linesBefore);
    expect(log.count('database unavailable')).toBe(1);
    expect(during.filter((l) => ['unexpected error', 'request failed', 'token request failed', 'could not build the request context', 'readiness check failed'].includes(l.msg ?? ''))).toEqual([]);
    expect(log.count('database available again')).toBe(0);

    await pg.start();
    await expect.poll(async () => (await registry.graphql('{ me { scopes } }', {}, bearer())).status, { timeout: 30_000, interval: 200 }).toBe(200);
    await expect.poll(() => log.count('database available again'), { timeout: 10_000, interval: 100 }).toBe(1);
    expect(log.count('database unavailable')).toBe(1);

    // Everything serves again: a token, a call over GraphQL and over UTCP.
    expect((await token()).status).toBe(200);
    const executed = await registry.graphql<{ executeTool: { status: string } }>('mutation { executeTool(input: { tool: "outage.echo", arguments: {} }) { status } }', {}, bearer());
    expect(executed.data?.executeTool.status, JSON.stringify(executed.errors)).toBe('SUCCEEDED');
    expect((await post('/tools/outage.echo/call', {})).status).toBe(200);
  });
});

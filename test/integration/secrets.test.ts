import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialAuthType, CredentialService } from '../../src/modules/credential/index.js';
import { ProviderService } from '../../src/modules/provider/index.js';
import { manual, manualTool } from '../helpers/factories.js';
import { BOOTSTRAP, startRegistry, type TestRegistry } from '../helpers/registry.js';

let registry: TestRegistry;
let logged = '';
const responses: string[] = [];
const canaries: string[] = [];

/** A string that must never come back out of the registry. */
function canary(label: string): string {
  const value = `canary-${label}-${randomBytes(9).toString('hex')}`;
  canaries.push(value);
  return value;
}

async function record(response: Response): Promise<void> {
  responses.push(JSON.stringify(Object.fromEntries(response.headers)), await response.text());
}

let peer: Server;
let peerUrl: string;

beforeAll(async () => {
  peer = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manual([manualTool({ name: 'guarded' })])));
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  registry = await startRegistry({ seed: true, logStream, env: { LOG_LEVEL: 'trace', REGISTRY_EGRESS_ALLOW: '127.0.0.1/32' } });
  canaries.push(BOOTSTRAP.clientSecret);
});
afterAll(async () => {
  await registry?.close();
  peer?.close();
});

describe('secrets', () => {
  it('appear in no log line, response, audit entry or stored row, whatever the registry is sent', async () => {
    const client = await registry.createClient({ roles: ['agent'] });
    canaries.push(client.clientSecret);
    const post = (path: string, body: string, headers: Record<string, string>) =>
      fetch(`${registry.url}${path}`, { method: 'POST', body, headers }).then(record);

    // Token requests: right and wrong secrets, in the body, in Basic auth, and (wrongly) in the URL.
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
    await post('/oauth/token', form({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }), formHeaders);
    await post('/oauth/token', form({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: canary('wrong-secret') }), formHeaders);
    await post('/oauth/token', form({ grant_type: 'client_credentials' }), {
      ...formHeaders,
      authorization: `Basic ${Buffer.from(`${client.clientId}:${canary('basic-secret')}`).toString('base64')}`,
    });
    await post(`/oauth/token?client_secret=${canary('query-secret')}`, form({ grant_type: 'client_credentials' }), formHeaders);
    await post('/oauth/token', form({ grant_type: 'refresh_token', refresh_token: canary('refresh'), client_id: client.clientId, client_secret: client.clientSecret }), formHeaders);

    // GraphQL: forged and garbage bearer tokens, secrets in variables and in the URL.
    for (const authorization of [`Bearer ${canary('bearer')}`, `Bearer a.${canary('jwt-body')}.c`, `Basic ${canary('graphql-basic')}`]) {
      await post('/graphql', JSON.stringify({ query: '{ tools { totalCount } }' }), { 'content-type': 'application/json', authorization });
    }
    await post(
      '/graphql',
      JSON.stringify({ query: 'query($s: String!) { tool(name: $s) { name } }', variables: { s: canary('variable') } }),
      { 'content-type': 'application/json', authorization: `Bearer ${registry.viewerToken}` },
    );
    await fetch(`${registry.url}/graphql?query=${encodeURIComponent('{ __typename }')}&token=${canary('get-query')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    }).then(record);

    // Providers registered with secrets: refused ones and stored ones alike.
    const publisher = await registry.login({ roles: ['publisher'] });
    const register = (name: string, url: string, apiKey: string) =>
      post(
        '/graphql',
        JSON.stringify({
          query: 'mutation($input: RegisterProviderInput!) { registerProvider(input: $input) { provider { id } userErrors { code message } } }',
          variables: {
            input: { name, callTemplate: { call_template_type: 'http', url, http_method: 'GET', auth: { auth_type: 'api_key', api_key: apiKey, var_name: 'X-Api-Key' } } },
          },
        }),
        { 'content-type': 'application/json', authorization: `Bearer ${publisher}` },
      );
    await register('refused_one', 'http://169.254.169.254/latest', canary('provider-refused'));
    await register('stored_one', `${peerUrl}/manual.json`, canary('provider-stored'));
    await fetch(`${registry.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${publisher}` },
      body: JSON.stringify({ query: '{ providers(first: 50) { edges { node { name credential { hint authType varName } } } } }' }),
    }).then(record);

    // Credentials in the vault: stored, revealed to the executor, never shown.
    const provider = await new ProviderService(registry.db.fork()).findByName('weather');
    const credentials = new CredentialService(registry.db.fork(), registry.security.vault);
    const apiKey = canary('api-key');
    const stored = await credentials.set({ providerId: provider!.id, reference: 'WEATHER_KEY', authType: CredentialAuthType.API_KEY, secret: { api_key: apiKey } });
    expect(credentials.reveal(stored)).toEqual({ api_key: apiKey });
    expect(JSON.stringify(credentials.redacted(stored))).not.toContain(apiKey);

    const em = registry.db.fork();
    const tables = ['audit_entry', 'credential', 'principal', 'refresh_token', 'provider', 'tool', 'execution'];
    const dump = (await Promise.all(tables.map((t) => em.execute(`select * from ${t}`)))).map((rows) => JSON.stringify(rows)).join('\n');

    expect(responses.join('\n')).toContain('stored_one');
    expect(logged.length).toBeGreaterThan(1000);
    for (const secret of canaries) {
      expect(logged, `log contains ${secret.slice(0, 20)}`).not.toContain(secret);
      expect(responses.join('\n'), `response contains ${secret.slice(0, 20)}`).not.toContain(secret);
      expect(dump, `database contains ${secret.slice(0, 20)}`).not.toContain(secret);
    }
  });
});

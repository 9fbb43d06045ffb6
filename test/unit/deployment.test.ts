import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { composeSupergraph } from '../../scripts/compose-supergraph.js';
import { loadConfig } from '../../src/config.js';
import { generateSigningJwk } from '../../src/security/signing-keys.js';

interface ComposeFile {
  services: Record<string, { environment?: Record<string, string>; volumes?: string[]; deploy?: { replicas?: number }; command?: string[] }>;
}

async function compose(): Promise<ComposeFile> {
  return parseYaml(await readFile('docker-compose.yml', 'utf8')) as ComposeFile;
}

/** Replaces `${VAR:?message}` and `${VAR:-default}` as Compose would, taking required values from `values`. */
function interpolate(text: string, values: Record<string, string>): string {
  return text
    .replace(/\$\{([A-Z_]+):\?[^}]*\}/g, (_m, name: string) => values[name] ?? 'secret')
    .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

describe('the deployment files', () => {
  it('compose postgres, redis, two registry replicas and the router', async () => {
    const { services } = await compose();
    expect(Object.keys(services).sort()).toEqual(['postgres', 'redis', 'registry', 'router']);
    expect(services.registry!.deploy?.replicas).toBe(2);
  });

  it('configure the registry replicas with an environment the config module accepts', async () => {
    const values = {
      REGISTRY_SIGNING_KEYS: JSON.stringify([await generateSigningJwk()]),
      REGISTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    const env = Object.fromEntries(
      Object.entries((await compose()).services.registry!.environment!).map(([k, v]) => [k, interpolate(String(v), values)]),
    );
    const config = loadConfig(env);
    expect(config.database).toMatchObject({ kind: 'postgresql', url: expect.stringContaining('@postgres:5432/') });
    expect(config.redisUrl).toBe('redis://redis:6379');
    expect(config.nodeEnv).toBe('production');
    expect(config.host).toBe('0.0.0.0');
  });

  it('give the router the supergraph composed from the committed subgraph schema (run `npm run supergraph`)', async () => {
    const committed = await readFile('deploy/router/supergraph.graphql', 'utf8');
    expect(committed).toBe(await composeSupergraph());
    expect(committed).toContain('@join__graph(name: "registry", url: "http://registry:4000/graphql")');
    const router = (await compose()).services.router!;
    expect(router.volumes).toContain('./deploy/router:/etc/router:ro');
    expect(router.command).toEqual(expect.arrayContaining(['/etc/router/supergraph.graphql', '/etc/router/router.yaml']));
  });
});

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { composeSupergraph } from '../../scripts/compose-supergraph.js';
import { loadConfig } from '../../src/config.js';
import { generateSigningJwk } from '../../src/security/signing-keys.js';

interface ComposeFile {
  services: Record<
    string,
    { environment?: Record<string, string>; volumes?: string[]; deploy?: { replicas?: number }; command?: string[]; ports?: string[] }
  >;
}

/** The registry's replica count in the compose file. */
function replicasOf(file: ComposeFile): number {
  return file.services.registry!.deploy?.replicas ?? 1;
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
    // Two workers per replica: replicas × workers × DATABASE_POOL_MAX stays below PostgreSQL's 100 connections.
    expect(config.workers).toBe(2);
    expect(config.workers * replicasOf(await compose()) * (config.database as { poolMax: number }).poolMax).toBeLessThan(100);
  });

  it('give the router the supergraph composed from the committed subgraph schema (run `npm run supergraph`)', async () => {
    const committed = await readFile('deploy/router/supergraph.graphql', 'utf8');
    expect(committed).toBe(await composeSupergraph());
    expect(committed).toContain('@join__graph(name: "registry", url: "http://registry:4000/graphql")');
    const router = (await compose()).services.router!;
    expect(router.volumes).toContain('./deploy/router:/etc/router:ro');
    expect(router.command).toEqual(expect.arrayContaining(['/etc/router/supergraph.graphql', '/etc/router/router.yaml']));
  });

  it('keep .env (the generated keys and passwords) out of git and out of the image', async () => {
    for (const file of ['.gitignore', '.dockerignore']) {
      expect((await readFile(file, 'utf8')).split('\n').map((line) => line.trim()), file).toContain('.env');
    }
  });

  it('tell how to write .env with the silent npm run, and how the first admin is created', async () => {
    const text = await readFile('docker-compose.yml', 'utf8');
    const header = text.slice(0, text.indexOf('\nname:'));
    expect(header).toContain('npm run -s keys:generate > .env');
    expect(header).not.toMatch(/npm run keys:generate/);
    expect(header).toContain('REGISTRY_BOOTSTRAP_CLIENT_ID=');
    expect(header).toContain('REGISTRY_BOOTSTRAP_CLIENT_SECRET=');
    // The documented fallback runs the compiled CLI that the image holds (no compiler in the image).
    expect(header).toContain('docker compose exec registry node dist/src/cli/admin-create.js');
    expect((await readFile('src/cli/admin-create.ts', 'utf8')).length).toBeGreaterThan(0);
    const env = (await compose()).services.registry!.environment!;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['REGISTRY_BOOTSTRAP_CLIENT_ID', 'REGISTRY_BOOTSTRAP_CLIENT_SECRET']));
  });

  it('publish what the router does not serve (/oauth/token, /utcp, /mcp, subscriptions) from the replicas, one host port each', async () => {
    const { services } = await compose();
    expect(services.router!.ports).toContain('4000:4000');
    const ports = services.registry!.ports ?? [];
    const published = ports.map((port) => /^(\d+)-(\d+):4000$/.exec(port)).find(Boolean);
    expect(published, ports.join(', ')).toBeTruthy();
    const [, first, last] = published!;
    expect(Number(last) - Number(first) + 1).toBe(services.registry!.deploy!.replicas);
    const header = (await readFile('docker-compose.yml', 'utf8')).split('\nname:')[0]!;
    for (const path of ['/oauth/token', '/utcp', '/mcp', `ws://localhost:${first}/graphql`]) expect(header).toContain(path);
  });

  it('copy into the image everything `npm run build` runs', async () => {
    const build = (JSON.parse(await readFile('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.build!;
    const dockerfile = await readFile('Dockerfile', 'utf8');
    const needed = ['src', 'console', ...(build.includes('scripts/') ? ['scripts'] : [])];
    for (const dir of needed) expect(dockerfile).toContain(`COPY ${dir} ./${dir}`);
  });
});

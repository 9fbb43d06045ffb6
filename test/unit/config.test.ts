import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database on 127.0.0.1:4000 with the bundled example catalog', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4000,
      database: { kind: 'pglite' },
      seed: 'bundled',
      nodeEnv: 'development',
      introspection: true,
    });
  });

  it('uses PostgreSQL when DATABASE_URL is set, and then seeds nothing unless asked', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/registry', DATABASE_POOL_MAX: '4' });
    expect(config.database).toEqual({ kind: 'postgresql', url: 'postgres://u@db:5432/registry', poolMax: 4 });
    expect(config.seed).toBe('none');
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db/r', REGISTRY_SEED: 'bundled' }).seed).toBe('bundled');
  });

  it('keeps the embedded database in REGISTRY_DATA_DIR when given', () => {
    expect(loadConfig({ REGISTRY_DATA_DIR: '/var/lib/registry' }).database).toEqual({
      kind: 'pglite',
      dataDir: '/var/lib/registry',
    });
  });

  it('turns introspection off in production unless explicitly enabled', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', REGISTRY_INTROSPECTION: 'true' }).introspection).toBe(true);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).port).toBe(4000);
  });

  it('reports every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', REDIS_URL: 'http://r', REGISTRY_SEED: 'all' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'REDIS_URL', 'REGISTRY_SEED']) expect(problems).toContain(name);
  });

  it('refuses a data directory together with a PostgreSQL URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db/r', REGISTRY_DATA_DIR: '/data' })).toThrow(/REGISTRY_DATA_DIR/);
  });
});

import { z } from 'zod';

/** Where the registry keeps its data: embedded PGlite, or a PostgreSQL server. */
export type DatabaseConfig =
  | { kind: 'pglite'; dataDir?: string }
  | { kind: 'postgresql'; url: string; poolMax: number };

/** The registry's whole configuration, parsed once from the environment by {@link loadConfig}. */
export interface Config {
  host: string;
  port: number;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database: DatabaseConfig;
  redisUrl?: string;
  /** `bundled` imports the example manuals whose providers are missing; `none` starts empty. */
  seed: 'bundled' | 'none';
  /** Largest accepted HTTP request body, in bytes. */
  bodyLimitBytes: number;
  /** How long SIGTERM waits for in-flight requests before closing them, in milliseconds. */
  shutdownGraceMs: number;
  /** Serve introspection queries (on by default outside production). */
  introspection: boolean;
}

const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const postgresUrl = z
  .string()
  .url()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// or postgresql:// URL' });

const redisUrl = z
  .string()
  .url()
  .refine((v) => /^rediss?:\/\//.test(v), { message: 'must be a redis:// or rediss:// URL' });

const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: redisUrl.optional(),
  REGISTRY_DATA_DIR: z.string().min(1).optional(),
  REGISTRY_SEED: z.enum(['bundled', 'none']).optional(),
  REGISTRY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(1024 * 1024),
  REGISTRY_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  REGISTRY_INTROSPECTION: boolean.optional(),
});

/** Raised when the environment does not describe a valid configuration; lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment into a {@link Config}. The only place that reads environment variables.
 * Throws {@link ConfigError} naming every invalid or conflicting variable at once.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as most deployment tools write them for blank values.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  if (parsed.success && parsed.data.DATABASE_URL && parsed.data.REGISTRY_DATA_DIR) {
    problems.push('REGISTRY_DATA_DIR: only applies to the embedded database; unset it or DATABASE_URL');
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    database: e.DATABASE_URL
      ? { kind: 'postgresql', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX }
      : { kind: 'pglite', dataDir: e.REGISTRY_DATA_DIR },
    redisUrl: e.REDIS_URL,
    // The example catalog is for the embedded quick start; a PostgreSQL deployment opts in.
    seed: e.REGISTRY_SEED ?? (e.DATABASE_URL ? 'none' : 'bundled'),
    bodyLimitBytes: e.REGISTRY_BODY_LIMIT_BYTES,
    shutdownGraceMs: e.REGISTRY_SHUTDOWN_GRACE_MS,
    introspection: e.REGISTRY_INTROSPECTION ?? e.NODE_ENV !== 'production',
  };
}

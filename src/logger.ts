import { pino, type Logger } from 'pino';

/** Paths whose values never reach a log line, whatever logs them. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.clientSecret',
  '*.client_secret',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.api_key',
  'variables.*.password',
  'variables.*.secret',
];

/** Builds the structured JSON logger; secrets listed in {@link REDACTED_PATHS} are censored. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'tool-registry' },
      serializers: { req: serializeRequest },
    },
    destination ?? process.stdout,
  );
}

/** What a request log line shows: never headers, and the path without its query string. */
function serializeRequest(req: { method?: string; url?: string; ip?: string }) {
  return { method: req.method, path: typeof req.url === 'string' ? req.url.split('?')[0] : undefined, remoteAddress: req.ip };
}

export type { Logger };

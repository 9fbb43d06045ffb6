import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors.js';

/** `dist/console`, whether this module runs compiled (dist/src) or from source (src). */
export function defaultConsoleDir(): string {
  const src = dirname(dirname(fileURLToPath(import.meta.url)));
  const root = basename(dirname(src)) === 'dist' ? dirname(dirname(src)) : dirname(src);
  return join(root, 'dist', 'console');
}

/**
 * The page may load only its own scripts, styles and images, and talk only to this origin (HTTP
 * and the graphql-ws socket). No inline scripts, no eval, no framing.
 */
function contentSecurityPolicy(request: FastifyRequest): string {
  const ws = `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.host}`;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${ws}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function securityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply
    .header('content-security-policy', contentSecurityPolicy(request))
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
}

/** Where the console's pages live; every address under it is one of its pages. */
export const CONSOLE_BASE = '/console/';

/**
 * The catalog console (built by Vite into `dist/console`): `index.html` for every GET under
 * `/console/` (the page reads its address and shows that view, so reload and Back work), hashed
 * assets under `/assets/`, and `/` and `/console` redirect to `/console/`. When it was not built,
 * those addresses answer 404 with a coded error.
 */
export async function consoleRoutes(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? defaultConsoleDir();
  await app.register(async (scope) => {
    if (!existsSync(join(dir, 'index.html'))) {
      const notBuilt = async (_request: FastifyRequest, reply: FastifyReply) =>
        reply.status(404).send({
          errors: [{ message: 'The console is not built: run `npm run build`', extensions: { code: ErrorCode.NOT_FOUND } }],
        });
      for (const path of ['/', '/console', '/console/', '/console/*']) scope.get(path, notBuilt);
      return;
    }
    scope.addHook('onSend', async (request, reply) => {
      if (reply.statusCode < 400) securityHeaders(request, reply);
    });
    await scope.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      index: false,
      // Asset names carry a content hash.
      immutable: true,
      maxAge: '365d',
    });
    scope.get('/', async (_request, reply) => reply.redirect(CONSOLE_BASE, 302));
    scope.get('/console', async (_request, reply) => reply.redirect(CONSOLE_BASE, 301));
    // The page names the current assets: always revalidated.
    const page = async (_request: FastifyRequest, reply: FastifyReply) => reply.header('cache-control', 'no-cache').sendFile('index.html', dir, { cacheControl: false });
    scope.get('/console/', page);
    scope.get('/console/*', page);
  });
}

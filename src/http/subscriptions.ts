import { randomUUID } from 'node:crypto';
import { type IncomingMessage } from 'node:http';
import { type FastifyInstance } from 'fastify';
import { type ExecutionArgs, getOperationAST, GraphQLError, type GraphQLSchema, parse, specifiedRules, validate } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type RegistryContext } from '../context.types.js';
import { ErrorCode } from '../errors.js';
import { withoutSchemaHints } from './apollo.js';
import { type Logger } from '../logger.js';
import { type Viewer } from '../modules/principal/index.js';
import { limitParseOptions, limitValidationRules, type QueryLimits } from '../security/limits.js';

/** Open subscription connections one principal may hold. */
export const MAX_CONNECTIONS_PER_PRINCIPAL = 20;
const MAX_MESSAGE_BYTES = 64 * 1024;

export interface SubscriptionDependencies {
  schema: GraphQLSchema;
  limits: QueryLimits;
  logger: Logger;
  /** The viewer of an `Authorization` value; throws for a bad token, null when there is none. */
  authenticate(authorization: string | undefined): Promise<Viewer | null>;
  /** The client address of the upgrade request. */
  sourceIp(request: IncomingMessage): string;
  context(viewer: Viewer, sourceIp: string, requestId: string, origin: string): RegistryContext;
  /** The registry's base URL as the client of the upgrade request reaches it. */
  origin(request: IncomingMessage): string;
  /** How often a connection's token is checked again; a connection whose token expired or was revoked is closed. */
  recheckMs: number;
}

type ConnectionExtra = {
  viewer?: Viewer;
  sourceIp?: string;
  recheck?: NodeJS.Timeout;
};

/** Close code for a connection whose token no longer holds (graphql-ws uses 4401 for "Unauthorized"). */
const TOKEN_NO_LONGER_VALID = 4401;
/** Close code for a connection over the principal's limit (HTTP's 429, in the 4xxx range of applications). */
const TOO_MANY_CONNECTIONS = 4429;

const refusal = (message: string, code: ErrorCode) => [new GraphQLError(message, { extensions: { code } })];

/**
 * GraphQL subscriptions over graphql-ws on `/graphql`, the HTTP port's WebSocket upgrade. The bearer
 * token comes in `connection_init` (`{ authorization: "Bearer …" }`, or the upgrade request's
 * Authorization header); without a valid one the connection closes with 4403. Only subscription
 * operations are accepted, under the same parse and validation limits as HTTP; a principal holds at
 * most {@link MAX_CONNECTIONS_PER_PRINCIPAL} connections per replica (one more is closed with 4429).
 * The token is checked again every `recheckMs`: once it has expired, been revoked or its principal
 * disabled, the connection closes (4401).
 */
export function attachSubscriptions(app: FastifyInstance, deps: SubscriptionDependencies): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const connections = new Map<string, number>();

  app.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: deps.schema,
      context: (ctx) => deps.context(ctx.extra.viewer!, ctx.extra.sourceIp!, randomUUID(), deps.origin(ctx.extra.request)),
      onConnect: async (ctx) => {
        const given = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const header = typeof given === 'string' ? given : ctx.extra.request.headers.authorization;
        let viewer: Viewer | null;
        try {
          viewer = await deps.authenticate(header);
        } catch {
          return false;
        }
        if (!viewer) return false;
        const open = connections.get(viewer.principalId) ?? 0;
        if (open >= MAX_CONNECTIONS_PER_PRINCIPAL) {
          // Closed before graphql-ws would close it as Forbidden: the token is fine, the count is not.
          ctx.extra.socket.close(TOO_MANY_CONNECTIONS, `Too many subscription connections: at most ${MAX_CONNECTIONS_PER_PRINCIPAL} per principal`);
          return false;
        }
        connections.set(viewer.principalId, open + 1);
        ctx.extra.viewer = viewer;
        ctx.extra.sourceIp = deps.sourceIp(ctx.extra.request);
        ctx.extra.recheck = setInterval(() => {
          deps.authenticate(header).then(
            (still) => {
              if (still?.principalId !== viewer.principalId) throw new Error('another principal');
            },
          ).catch(() => ctx.extra.socket.close(TOKEN_NO_LONGER_VALID, 'Unauthorized: the token expired or was revoked'));
        }, deps.recheckMs);
        ctx.extra.recheck.unref();
        return true;
      },
      onClose: (ctx) => {
        clearInterval(ctx.extra.recheck);
        const viewer = ctx.extra.viewer;
        if (!viewer) return;
        const open = (connections.get(viewer.principalId) ?? 1) - 1;
        if (open <= 0) connections.delete(viewer.principalId);
        else connections.set(viewer.principalId, open);
      },
      onSubscribe: (_ctx, _id, payload) => {
        let document;
        try {
          document = parse(payload.query, limitParseOptions(deps.limits));
        } catch (error) {
          return refusal((error as Error).message, ErrorCode.BAD_REQUEST);
        }
        const errors = validate(deps.schema, document, [...specifiedRules, ...limitValidationRules(deps.limits)]);
        // Without "Did you mean …" hints, as over HTTP.
        if (errors.length) return errors.map((e) => new GraphQLError(withoutSchemaHints(e.message), { nodes: e.nodes, extensions: e.extensions }));
        const operation = getOperationAST(document, payload.operationName);
        if (operation?.operation !== 'subscription') {
          return refusal('Only subscriptions are served over WebSocket; send queries and mutations over HTTP', ErrorCode.BAD_REQUEST);
        }
        return { schema: deps.schema, document, variableValues: payload.variables ?? undefined, operationName: payload.operationName } as ExecutionArgs;
      },
      onError: (_ctx, _id, _payload, errors) => {
        deps.logger.debug({ errors: errors.map((e) => e.message) }, 'subscription failed');
      },
    },
    wss,
  );

  app.addHook('preClose', async () => {
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
}

import { type EntityManager } from '@mikro-orm/postgresql';
import { type Database } from './db/database.js';
import { ExecutionService } from './modules/execution/index.js';
import { type Viewer } from './modules/principal/index.js';
import { ProviderService } from './modules/provider/index.js';
import { ToolService } from './modules/tool/index.js';

/** Everything a resolver may use for one request. */
export interface RegistryContext {
  requestId: string;
  sourceIp: string;
  /** The authenticated caller; null for anonymous requests. */
  viewer: Viewer | null;
  /** This request's own EntityManager fork. */
  em: EntityManager;
  tools: ToolService;
  providers: ProviderService;
  executions: ExecutionService;
}

/** Builds the context of one request around a fresh EntityManager fork. */
export function createContext(db: Database, request: { requestId: string; sourceIp: string; viewer?: Viewer | null }): RegistryContext {
  const em = db.fork();
  return {
    requestId: request.requestId,
    sourceIp: request.sourceIp,
    viewer: request.viewer ?? null,
    em,
    tools: new ToolService(em),
    providers: new ProviderService(em),
    executions: new ExecutionService(em),
  };
}

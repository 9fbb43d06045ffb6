import { executeCli } from './cli.executor.js';
import { type Executor } from './executor.types.js';
import { executeHttp } from './http.executor.js';

/**
 * The executors by call template type, registered explicitly. The remaining types (sse,
 * streamable_http, websocket, graphql, mcp, text, file) come with the execution pipeline.
 */
export const EXECUTORS: Readonly<Partial<Record<string, Executor>>> = {
  http: executeHttp,
  cli: executeCli,
};

export { clearOAuthTokenCache } from './http.executor.js';
export type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';

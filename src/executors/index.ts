import { executeCli } from './cli.executor.js';
import { type Executor } from './executor.types.js';
import { executeFile } from './file.executor.js';
import { executeGraphql } from './graphql.executor.js';
import { executeHttp } from './http.executor.js';
import { executeMcp } from './mcp.executor.js';
import { executeSse } from './sse.executor.js';
import { executeStreamableHttp } from './streamable-http.executor.js';
import { executeText } from './text.executor.js';
import { executeWebsocket } from './websocket.executor.js';

/** The executor of every UTCP 1.1 call template type, registered explicitly. */
export const EXECUTORS: Readonly<Record<string, Executor>> = {
  http: executeHttp,
  sse: executeSse,
  streamable_http: executeStreamableHttp,
  websocket: executeWebsocket,
  graphql: executeGraphql,
  mcp: executeMcp,
  cli: executeCli,
  text: executeText,
  file: executeFile,
};

export { clearOAuthTokenCache } from './http.executor.js';
export { closeMcpSessions } from './mcp.executor.js';
export type { ExecutionOutcome, ExecutionRequest, Executor } from './executor.types.js';

import { authenticated, requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/**
 * Calling tools needs `tools:execute` (policies decide which); reading and cancelling executions
 * needs a caller, and ExecutionService / the runtime decide whose executions they see.
 */
export const executionRules = {
  Query: { execution: authenticated, executions: authenticated },
  Mutation: { executeTool: requireScope(Scope.TOOLS_EXECUTE), cancelExecution: authenticated },
  Subscription: { executionUpdated: authenticated },
  Execution: allow,
  ExecutionError: allow,
  ExecutionConnection: allow,
  ExecutionEdge: allow,
  ExecutionUpdate: allow,
};

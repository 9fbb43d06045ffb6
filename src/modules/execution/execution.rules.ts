import { allow } from '../../security/shield.js';

/** Executions are reached only through `_entities`, where ExecutionService decides who sees one. */
export const executionRules = {
  Execution: allow,
  ExecutionError: allow,
};

import { requireScope } from '../security/rules.js';
import { Scope } from '../security/scopes.js';

/** The registry's own UTCP manual lists what the caller may execute, so it needs `tools:execute`. */
export const interopRules = {
  Query: { utcpManual: requireScope(Scope.TOOLS_EXECUTE) },
};

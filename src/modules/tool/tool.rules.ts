import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** The catalog needs `tools:read`. */
export const toolRules = {
  Query: { tool: requireScope(Scope.TOOLS_READ), tools: requireScope(Scope.TOOLS_READ) },
  Tool: allow,
  ToolConnection: allow,
  ToolEdge: allow,
  PageInfo: allow,
};

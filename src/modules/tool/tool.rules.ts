import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** The catalog needs `tools:read`; approving a quarantined version is an admin's call. */
export const toolRules = {
  Query: { tool: requireScope(Scope.TOOLS_READ), tools: requireScope(Scope.TOOLS_READ) },
  Mutation: { approveToolVersion: requireScope(Scope.ADMIN), setToolEnabled: requireScope(Scope.PROVIDERS_WRITE) },
  Subscription: { catalogChanged: requireScope(Scope.TOOLS_READ) },
  CatalogChange: allow,
  ToolVersion: allow,
  ToolPayload: allow,
  Tool: allow,
  ToolConnection: allow,
  ToolEdge: allow,
  PageInfo: allow,
};

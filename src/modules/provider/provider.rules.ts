import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading providers needs `tools:read`. */
export const providerRules = {
  Query: { provider: requireScope(Scope.TOOLS_READ), providers: requireScope(Scope.TOOLS_READ) },
  Provider: allow,
  ProviderConnection: allow,
  ProviderEdge: allow,
};

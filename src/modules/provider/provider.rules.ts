import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Reading providers needs `tools:read`; registering and changing them, and seeing their credential, `providers:write`. */
export const providerRules = {
  Query: { provider: requireScope(Scope.TOOLS_READ), providers: requireScope(Scope.TOOLS_READ) },
  Mutation: {
    registerProvider: requireScope(Scope.PROVIDERS_WRITE),
    refreshProvider: requireScope(Scope.PROVIDERS_WRITE),
    removeProvider: requireScope(Scope.PROVIDERS_WRITE),
  },
  Provider: { '*': allow, credential: requireScope(Scope.PROVIDERS_WRITE) },
  ProviderCredential: allow,
  ProviderChangePayload: allow,
  ProviderPayload: allow,
  ProviderConnection: allow,
  ProviderEdge: allow,
};

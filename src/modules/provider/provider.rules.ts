import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/**
 * Reading providers needs `tools:read`; registering and changing them, and seeing their credential,
 * `providers:write`; releasing a removed provider's name to another owner, `admin`.
 */
export const providerRules = {
  Query: { provider: requireScope(Scope.TOOLS_READ), providers: requireScope(Scope.TOOLS_READ) },
  Mutation: {
    registerProvider: requireScope(Scope.PROVIDERS_WRITE),
    refreshProvider: requireScope(Scope.PROVIDERS_WRITE),
    removeProvider: requireScope(Scope.PROVIDERS_WRITE),
    setProviderTransportSecurity: requireScope(Scope.PROVIDERS_WRITE),
    releaseProviderName: requireScope(Scope.ADMIN),
  },
  Provider: { '*': allow, credential: requireScope(Scope.PROVIDERS_WRITE) },
  ProviderCredential: allow,
  TlsPinFailure: allow,
  ProviderChangePayload: allow,
  ProviderPayload: allow,
  ReleaseProviderNamePayload: allow,
  ProviderConnection: allow,
  ProviderEdge: allow,
};

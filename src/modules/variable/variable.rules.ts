import { requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Setting and reading a provider's variables needs `providers:write` (the service then wants its owner or an admin). */
export const variableRules = {
  Mutation: { setProviderVariables: requireScope(Scope.PROVIDERS_WRITE) },
  Provider: { variables: requireScope(Scope.PROVIDERS_WRITE), missingVariables: requireScope(Scope.PROVIDERS_WRITE) },
  ProviderVariable: allow,
  SetProviderVariablesPayload: allow,
};

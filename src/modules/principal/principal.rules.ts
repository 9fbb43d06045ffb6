import { authenticated, requireScope } from '../../security/rules.js';
import { Scope } from '../../security/scopes.js';
import { allow } from '../../security/shield.js';

/** Anyone signed in may ask who they are, what is left of their budget, and revoke their own tokens; the rest is for admins. */
export const principalRules = {
  Query: { me: authenticated, rateLimit: authenticated, principals: requireScope(Scope.ADMIN) },
  Mutation: {
    createPrincipal: requireScope(Scope.ADMIN),
    rotatePrincipalSecret: requireScope(Scope.ADMIN),
    revokeTokens: authenticated,
    setPrincipalStatus: requireScope(Scope.ADMIN),
  },
  Me: allow,
  RateLimit: allow,
  Principal: allow,
  PrincipalConnection: allow,
  PrincipalEdge: allow,
  PrincipalSecretPayload: allow,
  RevokeTokensPayload: allow,
  SetPrincipalStatusPayload: allow,
  UserError: allow,
};

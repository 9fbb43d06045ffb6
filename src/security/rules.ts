import { type GraphQLResolveInfo } from 'graphql';
import { type RegistryContext } from '../context.types.js';
import { ErrorCode, RegistryError } from '../errors.js';
import { type Scope } from './scopes.js';
import { chain, rule, type ShieldRule } from './shield.js';

/** Records a refused field once per request (in its own transaction) and returns the error. */
async function refuse(ctx: RegistryContext, info: GraphQLResolveInfo, error: RegistryError): Promise<RegistryError> {
  await ctx.recordDenial(`${info.parentType.name}.${info.fieldName}`, String(error.extensions.code));
  return error;
}

/** Charges the operation's cost once per request; RATE_LIMITED when the hourly budget is spent. */
const withinBudget = rule('budget', { cache: 'contextual' })(async (_p: unknown, _a: unknown, ctx: RegistryContext) =>
  ctx.chargeBudget(ctx.queryCharge ?? 1),
);

const cache = new Map<Scope, ShieldRule>();

/**
 * The rule of a field that needs `scope`: UNAUTHENTICATED without a caller, FORBIDDEN without
 * the scope, then the operation's cost is charged to the caller's budget. Its name,
 * `scope:<scope>`, is what the schema-walk test reads.
 */
export function requireScope(scope: Scope): ShieldRule {
  let existing = cache.get(scope);
  if (!existing) {
    const hasScope = rule(`scope:${scope}`, { cache: 'contextual' })(
      async (_parent: unknown, _args: unknown, ctx: RegistryContext, info: GraphQLResolveInfo) => {
        if (!ctx.viewer) return refuse(ctx, info, new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token'));
        if (!ctx.viewer.scopes.has(scope)) {
          return refuse(ctx, info, new RegistryError(ErrorCode.FORBIDDEN, `This needs the \`${scope}\` scope`, { scope }));
        }
        return true;
      },
    );
    existing = chain(hasScope, withinBudget);
    cache.set(scope, existing);
  }
  return existing;
}

/** Any authenticated caller; used where the service decides the rest (`me`, `_entities`). */
export const authenticated: ShieldRule = chain(
  rule('authenticated', { cache: 'contextual' })(
    async (_parent: unknown, _args: unknown, ctx: RegistryContext, info: GraphQLResolveInfo) =>
      ctx.viewer ? true : refuse(ctx, info, new RegistryError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send a bearer token')),
  ),
  rule('budget:authenticated', { cache: 'contextual' })(async (_p: unknown, _a: unknown, ctx: RegistryContext) =>
    ctx.chargeBudget(ctx.queryCharge ?? 1),
  ),
);


/** The error every field without an explicit rule answers with. */
export const fallbackError = (_error: unknown, _parent: unknown, _args: unknown, ctx: RegistryContext, info: GraphQLResolveInfo) =>
  refuse(ctx, info, new RegistryError(ErrorCode.FORBIDDEN, 'Not authorized'));

import { createRequire } from 'node:module';
import util from 'node:util';
import type * as GraphQLMiddleware from 'graphql-middleware';
import type * as GraphQLShield from 'graphql-shield';

// graphql-shield 7.6.5 imports `isUndefined` from `util`, which Node 23 removed
// (maticzav/graphql-shield#1561, fixed upstream but unreleased).
const legacyUtil = util as unknown as { isUndefined?: (value: unknown) => boolean };
legacyUtil.isUndefined ??= (value: unknown) => value === undefined;

// Both packages are loaded as CommonJS: mixing their ESM and CJS copies breaks applyMiddleware.
const require = createRequire(import.meta.url);
const shieldModule = require('graphql-shield') as typeof GraphQLShield;
const middlewareModule = require('graphql-middleware') as typeof GraphQLMiddleware;

export const { allow, and, chain, deny, or, rule, shield } = shieldModule;
export const { applyMiddleware } = middlewareModule;
export type { IRule, IRules } from 'graphql-shield';
/** A rule or a logic rule (`and`, `chain`, …): anything a rule tree may hold. */
export type ShieldRule = Parameters<typeof shieldModule.and>[number];

import { type GraphQLSchema, isObjectType, OperationTypeNode } from 'graphql';
import { alertRules } from '../modules/alert/index.js';
import { auditRules } from '../modules/audit/index.js';
import { executionRules } from '../modules/execution/index.js';
import { policyRules } from '../modules/policy/index.js';
import { principalRules } from '../modules/principal/index.js';
import { providerRules } from '../modules/provider/index.js';
import { toolRules } from '../modules/tool/index.js';
import { variableRules } from '../modules/variable/index.js';
import { interopRules } from '../interop/interop.rules.js';
import { authenticated, fallbackError } from './rules.js';
import { allow, applyMiddleware, deny, shield, type ShieldRule } from './shield.js';

/** Rules per type: one rule for every field of the type, or a rule per field. */
export type RuleTree = Record<string, ShieldRule | Record<string, ShieldRule>>;

/** The federation fields: `_service` is public; `_entities` needs a caller, and each service decides per entity. */
const federationRules: RuleTree = {
  Query: { _service: allow, _entities: authenticated },
  _Service: allow,
};

/** Every domain's rules, registered explicitly. */
const domainRules: RuleTree[] = [toolRules, providerRules, executionRules, principalRules, policyRules, auditRules, alertRules, interopRules, federationRules, variableRules];

function isFieldMap(rules: ShieldRule | Record<string, ShieldRule>): rules is Record<string, ShieldRule> {
  return Object.getPrototypeOf(rules) === Object.prototype;
}

/** Merges rule trees; throws when two trees rule the same field or type. */
export function composeRuleTree(trees: RuleTree[] = domainRules): RuleTree {
  const tree: RuleTree = {};
  for (const part of trees) {
    for (const [type, rules] of Object.entries(part)) {
      const existing = tree[type];
      if (existing === undefined) {
        tree[type] = isFieldMap(rules) ? { ...rules } : rules;
      } else if (isFieldMap(existing) && isFieldMap(rules)) {
        for (const field of Object.keys(rules)) {
          if (field in existing) throw new Error(`Two rules for ${type}.${field}`);
        }
        Object.assign(existing, rules);
      } else {
        throw new Error(`Two rules for type ${type}`);
      }
    }
  }
  return tree;
}

/** The rule that guards `type.field`, or undefined where the deny fallback applies. */
export function ruleFor(tree: RuleTree, type: string, field: string): ShieldRule | undefined {
  const rules = tree[type];
  if (rules === undefined) return undefined;
  return isFieldMap(rules) ? (rules[field] ?? rules['*']) : rules;
}

/**
 * The root fields anyone may ask for without a token, per operation type: those whose rule is a
 * plain `allow` (`_service`), and the meta fields (`__typename`; introspection, which is off in
 * production unless configured).
 */
export function publicRootFields(schema: GraphQLSchema, tree: RuleTree = composeRuleTree()): Map<OperationTypeNode, ReadonlySet<string>> {
  const fields = new Map<OperationTypeNode, ReadonlySet<string>>();
  for (const operation of [OperationTypeNode.QUERY, OperationTypeNode.MUTATION, OperationTypeNode.SUBSCRIPTION]) {
    const type = schema.getRootType(operation);
    const open = new Set(['__typename', ...(operation === OperationTypeNode.QUERY ? ['__schema', '__type'] : [])]);
    for (const field of Object.keys(type?.getFields() ?? {})) if (type && ruleFor(tree, type.name, field) === allow) open.add(field);
    fields.set(operation, open);
  }
  return fields;
}

/**
 * Guards `schema` with the rule tree: every field without a rule is denied (coded FORBIDDEN),
 * and fields whose rule is a plain `allow` are left unwrapped, so they cost nothing per resolve.
 */
export function applyRuleTree(schema: GraphQLSchema, tree: RuleTree = composeRuleTree()): GraphQLSchema {
  const generator = shield(tree, { fallbackRule: deny, allowExternalErrors: true, fallbackError: fallbackError as never });
  const generated = generator.generate(schema) as Record<string, Record<string, unknown>>;
  const pruned: Record<string, Record<string, unknown>> = {};
  for (const [type, fields] of Object.entries(generated)) {
    if (!isObjectType(schema.getType(type))) continue;
    const kept = Object.fromEntries(Object.entries(fields).filter(([field]) => ruleFor(tree, type, field) !== allow));
    if (Object.keys(kept).length > 0) pruned[type] = kept;
  }
  return guardSubscriptions(applyMiddleware(schema, pruned as never));
}

/**
 * graphql-middleware wraps only the `resolve` of a subscription field (which hands on each event),
 * not its `subscribe`: run that guarded `resolve` once before subscribing too, so a caller the rule
 * refuses gets the coded error at once instead of an open subscription that fails on every event.
 */
function guardSubscriptions(schema: GraphQLSchema): GraphQLSchema {
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) {
    const { subscribe, resolve } = field;
    if (!subscribe || !resolve) continue;
    field.subscribe = async (root, args, context, info) => {
      const verdict: unknown = await resolve(root, args, context, info);
      if (verdict instanceof Error) throw verdict;
      return subscribe(root, args, context, info);
    };
  }
  return schema;
}

import type * as G from '../generated/graphql';

export type PolicyFields = G.ConsolePolicyFieldsFragment;

/** A new policy's starting point: allow reading, active, priority 100, matching nothing until given subjects or resources. */
export const NEW_POLICY: G.PolicyInput = { name: '', description: '', effect: 'ALLOW', priority: 100, active: true, actions: ['READ'] };

/** The input that writes `policy` back as it is (an update replaces every field). */
export function inputOf(policy: PolicyFields): G.PolicyInput {
  return {
    name: policy.name,
    description: policy.description,
    effect: policy.effect,
    priority: policy.priority,
    active: policy.active,
    actions: policy.actions,
    parentId: policy.parentId ?? undefined,
    subjects: policy.subjects,
    resources: policy.resources,
    conditions: policy.conditions,
    limits: policy.limits,
  };
}

/** Reads an edited policy input from JSON text; throws a SyntaxError or an Error that says what is wrong. */
export function parsePolicyInput(text: string): G.PolicyInput {
  const value = JSON.parse(text) as unknown;
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('The policy must be a JSON object');
  const input = value as G.PolicyInput;
  if (typeof input.name !== 'string') throw new Error('`name` must be a string');
  if (!Array.isArray(input.actions)) throw new Error('`actions` must be a list such as ["READ", "EXECUTE"]');
  if (input.effect !== 'ALLOW' && input.effect !== 'DENY') throw new Error('`effect` must be "ALLOW" or "DENY"');
  return input;
}

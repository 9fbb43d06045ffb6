import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
} from 'graphql';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistrySchema } from '../../src/schema.js';
import { authenticated } from '../../src/security/rules.js';
import { composeRuleTree, ruleFor } from '../../src/security/rule-tree.js';
import { Scope } from '../../src/security/scopes.js';
import { type SigningKey } from '../../src/security/signing-keys.js';
import { allow } from '../../src/security/shield.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const { schema: guarded, unguarded } = await buildRegistrySchema();
const tree = composeRuleTree();
const rootTypes = [unguarded.getQueryType(), unguarded.getMutationType()].filter((t): t is GraphQLObjectType => Boolean(t));
const rootFields = rootTypes.flatMap((type) => Object.values(type.getFields()).map((field) => ({ type, field })));

/** What the rule tree says a root field needs: nothing, a caller, or a scope. */
function requirement(type: string, field: string): 'public' | 'authenticated' | Scope {
  const rule = ruleFor(tree, type, field);
  if (rule === allow) return 'public';
  if (rule === authenticated) return 'authenticated';
  const first = (rule as unknown as { getRules(): { name: string }[] }).getRules()[0]!;
  const scope = /^scope:(.+)$/.exec(first.name)?.[1];
  if (!scope) throw new Error(`Unrecognised rule on ${type}.${field}`);
  return scope as Scope;
}

/** A literal of `type` that passes GraphQL validation (the resolver may still refuse it). */
function literal(type: GraphQLInputType): string {
  if (isNonNullType(type)) return literal(type.ofType);
  if (isListType(type)) return `[${literal(type.ofType)}]`;
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((f) => isNonNullType(f.type));
    return `{ ${fields.map((f) => `${f.name}: ${literal(f.type)}`).join(', ')} }`;
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'Int':
        return '1';
      case 'Boolean':
        return 'true';
      case '_Any':
        return '{ __typename: "Tool", id: "00000000-0000-4000-8000-000000000000" }';
      default:
        return '"00000000-0000-4000-8000-000000000000"';
    }
  }
  throw new Error(`No literal for ${String(type)}`);
}

/** The smallest valid operation that reaches `field`. */
function operationFor(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>): string {
  const args = field.args.filter((a: GraphQLArgument) => isNonNullType(a.type));
  const argText = args.length ? `(${args.map((a) => `${a.name}: ${literal(a.type)}`).join(', ')})` : '';
  const named = getNamedType(field.type);
  const selection = isObjectType(named) || isUnionType(named) ? ' { __typename }' : '';
  const keyword = type === unguarded.getMutationType() ? 'mutation' : 'query';
  return `${keyword} { ${field.name}${argText}${selection} }`;
}

let registry: TestRegistry;
const tokens = new Map<string, string>();
/** Tokens that must be refused outright (401), however much they claim: expired, and signed by a foreign key. */
const invalid = new Map<string, string>();
let adminId: string;
let cells = 0;

/** An access token for the admin with every scope, signed by `key` and valid from `iat` to `exp` (seconds). */
function adminToken(key: Pick<SigningKey, 'alg' | 'kid' | 'privateKey'>, iat: number, exp: number): Promise<string> {
  // The admin token's family (`sid`): refused for its time or key alone, not for a made-up family.
  return new SignJWT({ scope: Object.values(Scope).join(' '), sid: decodeJwt(registry.adminToken).sid })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setSubject(adminId)
    .setIssuer(registry.security.tokens.issuer)
    .setAudience(['/mcp', '/utcp', '/graphql'].map((path) => `${registry.security.tokens.issuer}${path}`))
    .setJti(crypto.randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
}

beforeAll(async () => {
  registry = await startRegistry();
  tokens.set('none', await registry.login({}));
  for (const scope of Object.values(Scope)) tokens.set(scope, await registry.login({ scopes: [scope] }));
  const me = await registry.graphql<{ me: { principal: { id: string } } }>('{ me { principal { id } } }', undefined, { authorization: `Bearer ${registry.adminToken}` });
  adminId = me.data!.me.principal.id;
  const now = Math.floor(Date.now() / 1000);
  invalid.set('expired', await adminToken(registry.security.keys.current, now - 3600, now - 60));
  const foreign = await generateKeyPair('EdDSA');
  invalid.set('foreign key', await adminToken({ alg: 'EdDSA', kid: registry.security.keys.current.kid, privateKey: foreign.privateKey }, now, now + 300));
});
afterAll(async () => {
  console.info(`access matrix: ${rootFields.length} root fields × ${2 + tokens.size + invalid.size} kinds of caller = ${cells} cells`);
  await registry?.close();
});

const codes = (res: { errors?: { extensions?: { code?: string } }[] }) => (res.errors ?? []).map((e) => e.extensions?.code);

describe('the rule tree', () => {
  it('has an explicit rule for every root field', () => {
    const missing = rootFields.filter(({ type, field }) => ruleFor(tree, type.name, field.name) === undefined);
    expect(missing.map(({ type, field }) => `${type.name}.${field.name}`)).toEqual([]);
    expect(rootFields.length).toBeGreaterThan(10);
  });

  it('leaves only _service public', () => {
    const open = rootFields.filter(({ type, field }) => requirement(type.name, field.name) === 'public');
    expect(open.map(({ field }) => field.name)).toEqual(['_service']);
  });

  it('wraps no field whose rule is a plain allow, and every other field', () => {
    for (const [name, type] of Object.entries(guarded.getTypeMap())) {
      if (!isObjectType(type) || name.startsWith('__')) continue;
      const plain = unguarded.getType(name) as GraphQLObjectType;
      for (const [fieldName, field] of Object.entries(type.getFields())) {
        const wrapped = field.resolve !== plain.getFields()[fieldName]!.resolve;
        expect(wrapped, `${name}.${fieldName}`).toBe(ruleFor(tree, name, fieldName) !== allow);
      }
    }
  });

  it('denies fields of types it does not name (the fallback is deny, not allow)', () => {
    expect(ruleFor(tree, 'SomeNewType', 'secret')).toBeUndefined();
  });
});

describe.each(rootFields.map(({ type, field }) => ({ name: `${type.name}.${field.name}`, type, field })))('$name', ({ type, field }) => {
  const needs = requirement(type.name, field.name);
  const operation = operationFor(type, field);

  it(`is refused without a token${needs === 'public' ? ' (except: public)' : ''}`, async () => {
    cells += 1;
    const res = await registry.graphql(operation, undefined, { authorization: '' });
    if (needs === 'public') expect(codes(res)).not.toContain('UNAUTHENTICATED');
    else expect(codes(res)).toContain('UNAUTHENTICATED');
  });

  it('is refused to every token that lacks what the rule tree names, and reached with it', async () => {
    for (const [held, token] of tokens) {
      if (!token) continue;
      cells += 1;
      const res = await registry.graphql(operation, undefined, { authorization: `Bearer ${token}` });
      // Past an `authenticated` rule the resolver may still refuse someone else's data (FORBIDDEN).
      const refusedBy = needs === 'authenticated' ? ['UNAUTHENTICATED'] : ['UNAUTHENTICATED', 'FORBIDDEN'];
      const reached = !codes(res).some((c) => refusedBy.includes(c!));
      const allowed = needs === 'public' || needs === 'authenticated' || held === needs || held === Scope.ADMIN;
      // An admin-scoped token is not an admin principal: resolvers may still refuse other principals' data.
      if (held === Scope.ADMIN && !reached) continue;
      expect(reached, `${held} → ${JSON.stringify(res.errors?.[0])}`).toBe(allowed);
    }
  });

  it('is refused with 401 to an expired admin token and to one signed by a foreign key, and reached by the admin', async () => {
    for (const [kind, token] of invalid) {
      cells += 1;
      const res = await registry.graphql(operation, undefined, { authorization: `Bearer ${token}` });
      expect(res.status, kind).toBe(401);
      expect(codes(res), kind).toEqual(['UNAUTHENTICATED']);
      expect(res.data ?? null, kind).toBeNull();
    }
    cells += 1;
    const admin = await registry.graphql(operation, undefined, { authorization: `Bearer ${registry.adminToken}` });
    expect(codes(admin), JSON.stringify(admin.errors?.[0])).not.toContain('UNAUTHENTICATED');
    expect(codes(admin), JSON.stringify(admin.errors?.[0])).not.toContain('FORBIDDEN');
  });
});

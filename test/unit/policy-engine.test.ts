import { describe, expect, it } from 'vitest';
import {
  type AccessRequest,
  clientAddress,
  compilePolicies,
  decide,
  type PolicyInput,
  resourcesName,
  validatePolicyGraph,
} from '../../src/modules/policy/policy.engine.js';

let nextId = 0;
/** An active allow policy for everyone, every tool and every action, with the given overrides. */
function policy(overrides: Partial<PolicyInput> = {}): PolicyInput {
  nextId += 1;
  return {
    id: `p${nextId}`,
    name: `policy ${nextId}`,
    effect: 'allow',
    priority: 0,
    parentId: null,
    subjects: {},
    resources: {},
    actions: ['read', 'execute', 'admin'],
    conditions: {},
    limits: {},
    active: true,
    ...overrides,
  };
}

/** Monday 23 November 2026, 10:00 in Berlin (CET, UTC+1). */
const MONDAY_MORNING = new Date('2026-11-23T09:00:00Z');

function request(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    principal: { id: 'agent-1', roles: ['agent'] },
    action: 'execute',
    tool: { name: 'github.create_issue', tags: ['vcs', 'write'], provider: 'github' },
    at: MONDAY_MORNING,
    ...overrides,
  };
}

const allowed = (policies: PolicyInput[], req: Partial<AccessRequest> = {}) => decide(policies, request(req)).allowed;
const reasonsOf = (policies: PolicyInput[], req: Partial<AccessRequest> = {}, index = 0) =>
  decide(policies, request(req)).evaluations[index]!.reasons.join(' | ');

describe('default', () => {
  it('denies when no policy exists', () => {
    const decision = decide([], request());
    expect(decision).toMatchObject({ allowed: false, decidingPolicy: null, limits: [] });
    expect(decision.reason).toMatch(/default deny/);
  });

  it('denies when only deny policies or non-matching allows exist, and allows when an allow matches', () => {
    expect(allowed([policy({ resources: { tools: ['slack.*'] } })])).toBe(false);
    expect(allowed([policy({ resources: { tools: ['github.*'] } })])).toBe(true);
  });
});

describe('subjects', () => {
  it('match by principal id and not for another principal', () => {
    const p = policy({ subjects: { principals: ['agent-1'] } });
    expect(allowed([p])).toBe(true);
    expect(reasonsOf([p])).toContain('subject: principal agent-1 matches');
    expect(allowed([p], { principal: { id: 'agent-2', roles: ['agent'] } })).toBe(false);
  });

  it('match by role and not when the principal lacks the role', () => {
    const p = policy({ subjects: { roles: ['agent', 'admin'] } });
    expect(reasonsOf([p])).toContain('subject: role agent matches');
    expect(allowed([p])).toBe(true);
    expect(allowed([p], { principal: { id: 'agent-1', roles: ['viewer'] } })).toBe(false);
    expect(reasonsOf([p], { principal: { id: 'agent-1', roles: ['viewer'] } })).toMatch(/not among roles \[agent, admin\]/);
  });

  it('match anyone when no principals or roles are listed', () => {
    expect(allowed([policy({ subjects: { principals: [], roles: [] } })], { principal: { id: 'x', roles: [] } })).toBe(true);
  });
});

describe('resources', () => {
  it('match tool name globs: provider.* and * match, another provider does not', () => {
    expect(allowed([policy({ resources: { tools: ['github.*'] } })])).toBe(true);
    expect(allowed([policy({ resources: { tools: ['*'] } })])).toBe(true);
    expect(allowed([policy({ resources: { tools: ['github.create_?ssue'] } })])).toBe(true);
    expect(allowed([policy({ resources: { tools: ['github.*'] } })], { tool: { name: 'githubx.create', tags: [], provider: 'githubx' } })).toBe(false);
    // The dot is literal: "github.*" does not match "githubXcreate".
    expect(allowed([policy({ resources: { tools: ['github.*'] } })], { tool: { name: 'githubXcreate', tags: [], provider: 'g' } })).toBe(false);
  });

  it('match by tag and not when the tool has none of the tags', () => {
    const p = policy({ resources: { tags: ['write'] } });
    expect(allowed([p])).toBe(true);
    expect(reasonsOf([p])).toContain('resource: tag write matches');
    expect(allowed([p], { tool: { name: 'github.list', tags: ['read'], provider: 'github' } })).toBe(false);
  });

  it('match by provider and not for another provider', () => {
    const p = policy({ resources: { providers: ['github'] } });
    expect(allowed([p])).toBe(true);
    expect(allowed([p], { tool: { name: 'slack.post', tags: [], provider: 'slack' } })).toBe(false);
  });

  it('require every listed kind to match (glob and provider)', () => {
    const p = policy({ resources: { tools: ['*.create_issue'], providers: ['gitlab'] } });
    expect(allowed([p])).toBe(false);
    expect(allowed([p], { tool: { name: 'gitlab.create_issue', tags: [], provider: 'gitlab' } })).toBe(true);
  });
});

describe('actions', () => {
  it('match only the listed actions', () => {
    const p = policy({ actions: ['read'] });
    expect(allowed([p], { action: 'read' })).toBe(true);
    expect(allowed([p], { action: 'execute' })).toBe(false);
    expect(reasonsOf([p], { action: 'admin' })).toContain('action: admin not in [read]');
  });
});

describe('priority and ties', () => {
  it('lets the highest-priority applying policy decide, whichever its effect', () => {
    const allow = policy({ priority: 10, name: 'allow github' });
    const deny = policy({ priority: 5, effect: 'deny' });
    expect(decide([deny, allow], request())).toMatchObject({ allowed: true, decidingPolicy: { id: allow.id, priority: 10, effect: 'allow' } });
    const strongDeny = policy({ priority: 20, effect: 'deny', name: 'block' });
    const decision = decide([allow, strongDeny], request());
    expect(decision).toMatchObject({ allowed: false, decidingPolicy: { id: strongDeny.id } });
    expect(decision.reason).toBe('denied by "block" (deny, priority 20)');
  });

  it('lets deny win a tie in priority, in either order', () => {
    const allow = policy({ priority: 7 });
    const deny = policy({ priority: 7, effect: 'deny' });
    expect(decide([allow, deny], request())).toMatchObject({ allowed: false, decidingPolicy: { id: deny.id } });
    expect(decide([deny, allow], request())).toMatchObject({ allowed: false, decidingPolicy: { id: deny.id } });
  });

  it('ignores a higher-priority deny that does not apply', () => {
    const allow = policy({ priority: 1 });
    const deny = policy({ priority: 100, effect: 'deny', resources: { tools: ['slack.*'] } });
    expect(allowed([allow, deny])).toBe(true);
  });
});

describe('inactive policies', () => {
  it('are ignored, and the decision changes when they become active', () => {
    const deny = policy({ effect: 'deny', priority: 50, active: false });
    const allow = policy();
    const decision = decide([deny, allow], request());
    expect(decision.allowed).toBe(true);
    expect(decision.evaluations[0]).toMatchObject({ matched: false, applied: false, reasons: ['inactive: ignored'] });
    expect(allowed([{ ...deny, active: true }, allow])).toBe(false);
    expect(allowed([policy({ active: false })])).toBe(false);
  });
});

describe('inheritance', () => {
  const officeHours = { timeWindows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' }] };

  it("makes a child's call subject to its parent's time window", () => {
    const parent = policy({ name: 'office hours', actions: ['admin'], conditions: officeHours });
    const child = policy({ name: 'github agents', parentId: parent.id, resources: { tools: ['github.*'] } });
    const childAlone = { ...child, parentId: null };
    const evening = new Date('2026-11-23T19:00:00Z'); // Monday 20:00 in Berlin
    expect(allowed([childAlone], { at: evening })).toBe(true);
    const decision = decide([parent, child], request({ at: evening }));
    expect(decision.allowed).toBe(false);
    const childEvaluation = decision.evaluations[1]!;
    expect(childEvaluation).toMatchObject({ matched: true, applied: false });
    expect(childEvaluation.reasons).toContain('time window (inherited from "office hours"): outside Mon–Fri 09:00–17:00 Europe/Berlin (local Mon 20:00)');
    expect(allowed([parent, child], { at: MONDAY_MORNING })).toBe(true);
  });

  it('resolves the whole chain: a grandparent condition binds the grandchild, even when that ancestor is inactive', () => {
    const grandparent = policy({ active: false, conditions: { sourceCidrs: ['10.0.0.0/8'] } });
    const parent = policy({ parentId: grandparent.id, actions: [] });
    const child = policy({ parentId: parent.id });
    expect(allowed([grandparent, parent, child], { sourceIp: '192.0.2.1' })).toBe(false);
    expect(allowed([grandparent, parent, child], { sourceIp: '10.1.2.3' })).toBe(true);
  });

  it('refuses a cycle, naming it', () => {
    const a = policy({ id: 'a', name: 'A', parentId: 'c' });
    const b = policy({ id: 'b', name: 'B', parentId: 'a' });
    const c = policy({ id: 'c', name: 'C', parentId: 'b' });
    expect(() => validatePolicyGraph([a, b, c])).toThrow('policy cycle: "A" → "C" → "B" → "A"');
    expect(() => decide([a, b, c], request())).toThrow(/policy cycle/);
    expect(() => validatePolicyGraph([policy({ id: 'self', name: 'Self', parentId: 'self' })])).toThrow('policy cycle: "Self" → "Self"');
  });

  it('refuses a missing parent and accepts a valid forest', () => {
    expect(() => validatePolicyGraph([policy({ name: 'orphan', parentId: 'gone' })])).toThrow(/"orphan" .* names parent gone, which does not exist/);
    const root = policy();
    expect(() => validatePolicyGraph([policy({ parentId: root.id }), policy({ parentId: root.id }), root])).not.toThrow();
  });
});

describe('time windows', () => {
  const berlinOffice = { timeWindows: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' }] };

  it('hold inside the window in its time zone and not outside it', () => {
    const p = policy({ conditions: berlinOffice });
    expect(allowed([p], { at: new Date('2026-11-23T08:00:00Z') })).toBe(true); // 09:00 Berlin, inclusive
    expect(allowed([p], { at: new Date('2026-11-23T15:59:00Z') })).toBe(true); // 16:59
    expect(allowed([p], { at: new Date('2026-11-23T16:00:00Z') })).toBe(false); // 17:00, exclusive
    expect(allowed([p], { at: new Date('2026-11-22T10:00:00Z') })).toBe(false); // Sunday
    expect(reasonsOf([p], { at: new Date('2026-11-23T16:30:00Z') })).toContain(
      'time window: outside Mon–Fri 09:00–17:00 Europe/Berlin (local Mon 17:30)',
    );
  });

  it('use the window time zone, not UTC: 08:30 UTC is inside in Berlin but outside in New York', () => {
    const at = new Date('2026-11-23T08:30:00Z');
    expect(allowed([policy({ conditions: berlinOffice })], { at })).toBe(true);
    const newYork = { timeWindows: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00', timeZone: 'America/New_York' }] };
    expect(allowed([policy({ conditions: newYork })], { at })).toBe(false);
  });

  it('cross midnight, belonging to the day they start on', () => {
    const nights = { timeWindows: [{ days: ['Friday'], from: '22:00', to: '06:00', timeZone: 'Europe/Berlin' }] };
    const p = policy({ conditions: nights });
    expect(allowed([p], { at: new Date('2026-11-27T22:00:00Z') })).toBe(true); // Fri 23:00
    expect(allowed([p], { at: new Date('2026-11-28T01:00:00Z') })).toBe(true); // Sat 02:00, Friday's night
    expect(allowed([p], { at: new Date('2026-11-28T05:00:00Z') })).toBe(false); // Sat 06:00, exclusive end
    expect(allowed([p], { at: new Date('2026-11-27T03:00:00Z') })).toBe(false); // Fri 04:00 belongs to Thursday night
    expect(allowed([p], { at: new Date('2026-11-29T01:00:00Z') })).toBe(false); // Sun 02:00, Saturday night
  });

  it('follow daylight saving time in Europe/Berlin on the day the clocks change', () => {
    const daily = { timeWindows: [{ from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' }] };
    const p = policy({ conditions: daily });
    // 29 March 2026: clocks go from 02:00 CET to 03:00 CEST, so 07:30 UTC is 09:30 local (it was 08:30 the day before).
    expect(allowed([p], { at: new Date('2026-03-29T07:30:00Z') })).toBe(true);
    expect(allowed([p], { at: new Date('2026-03-28T07:30:00Z') })).toBe(false);
    expect(allowed([p], { at: new Date('2026-03-29T15:30:00Z') })).toBe(false); // 17:30 CEST
    expect(reasonsOf([p], { at: new Date('2026-03-29T07:30:00Z') })).toContain('local Sun 09:30');
  });

  it('hold when any of several windows contains the instant', () => {
    const two = {
      timeWindows: [
        { days: [6], timeZone: 'UTC' },
        { days: [1], from: '00:00', to: '12:00', timeZone: 'Asia/Tokyo' },
      ],
    };
    expect(allowed([policy({ conditions: two })], { at: new Date('2026-11-28T12:00:00Z') })).toBe(true); // Saturday UTC
    expect(allowed([policy({ conditions: two })], { at: new Date('2026-11-23T02:00:00Z') })).toBe(true); // Mon 11:00 Tokyo
    expect(allowed([policy({ conditions: two })], { at: new Date('2026-11-23T04:00:00Z') })).toBe(false); // Mon 13:00 Tokyo
  });

  it('refuse a bad time zone, time or day when compiled', () => {
    expect(() => compilePolicies([policy({ name: 'bad', conditions: { timeWindows: [{ timeZone: 'Mars/Olympus' }] } })])).toThrow(
      'policy "bad": unknown time zone "Mars/Olympus"',
    );
    expect(() => compilePolicies([policy({ conditions: { timeWindows: [{ from: '9:00', timeZone: 'UTC' }] } })])).toThrow(/not HH:MM/);
    expect(() => compilePolicies([policy({ conditions: { timeWindows: [{ days: [7], timeZone: 'UTC' }] } })])).toThrow(/day 7/);
  });
});

describe('source CIDRs', () => {
  it('hold for an IPv4 address inside and not outside', () => {
    const p = policy({ conditions: { sourceCidrs: ['203.0.113.0/24'] } });
    expect(allowed([p], { sourceIp: '203.0.113.9' })).toBe(true);
    expect(allowed([p], { sourceIp: '198.51.100.9' })).toBe(false);
    expect(reasonsOf([p], { sourceIp: '198.51.100.9' })).toContain('source address: 198.51.100.9 outside 203.0.113.0/24');
  });

  it('hold for an IPv6 address inside and not outside', () => {
    const p = policy({ conditions: { sourceCidrs: ['2001:db8::/32'] } });
    expect(allowed([p], { sourceIp: '2001:db8:1::5' })).toBe(true);
    expect(allowed([p], { sourceIp: '2001:db9::5' })).toBe(false);
  });

  it('treat an IPv4-mapped IPv6 address as IPv4, and a mapped CIDR as its IPv4 range', () => {
    expect(allowed([policy({ conditions: { sourceCidrs: ['10.0.0.0/8'] } })], { sourceIp: '::ffff:10.1.2.3' })).toBe(true);
    expect(allowed([policy({ conditions: { sourceCidrs: ['10.0.0.0/8'] } })], { sourceIp: '::ffff:11.1.2.3' })).toBe(false);
    expect(allowed([policy({ conditions: { sourceCidrs: ['::ffff:10.0.0.0/104'] } })], { sourceIp: '10.9.9.9' })).toBe(true);
  });

  it('fail closed when the source is unknown: an allow does not apply, a deny does', () => {
    const allow = policy({ conditions: { sourceCidrs: ['10.0.0.0/8'] } });
    expect(allowed([allow])).toBe(false);
    expect(allowed([allow], { sourceIp: 'not-an-ip' })).toBe(false);
    const deny = policy({ effect: 'deny', priority: 10, conditions: { sourceCidrs: ['192.0.2.0/24'] } });
    expect(allowed([policy(), deny])).toBe(false);
    expect(allowed([policy(), deny], { sourceIp: '10.0.0.1' })).toBe(true);
  });

  it('refuse an invalid CIDR when compiled', () => {
    expect(() => compilePolicies([policy({ name: 'net', conditions: { sourceCidrs: ['10.0.0.0/33'] } })])).toThrow(
      'policy "net": source CIDR "10.0.0.0/33" is not an IP address or CIDR',
    );
    expect(() => compilePolicies([policy({ conditions: { sourceCidrs: ['127.1'] } })])).toThrow(/not an IP address/);
  });
});

describe('argument constraints', () => {
  const acmeOnly = policy({
    name: 'acme repos',
    resources: { tools: ['github.*'] },
    conditions: { arguments: { type: 'object', required: ['repo'], properties: { repo: { type: 'string', pattern: '^acme/' } } } },
  });

  it('let the policy apply only when arguments.repo matches the pattern', () => {
    expect(allowed([acmeOnly], { arguments: { repo: 'acme/api' } })).toBe(true);
    const decision = decide([acmeOnly], request({ arguments: { repo: 'evil/api' } }));
    expect(decision.allowed).toBe(false);
    expect(decision.evaluations[0]).toMatchObject({ matched: true, applied: false });
    expect(decision.evaluations[0]!.reasons.join('\n')).toMatch(/arguments: do not satisfy the constraint: arguments\/repo must match pattern "\^acme\/"/);
  });

  it('do not apply to invalid arguments (missing or wrongly typed), giving the reason', () => {
    expect(reasonsOf([acmeOnly], { arguments: {} })).toMatch(/must have required property 'repo'/);
    expect(allowed([acmeOnly], { arguments: { repo: 42 } })).toBe(false);
  });

  it('are not evaluated without arguments, so a catalog read is decided without them', () => {
    const readable = { ...acmeOnly, actions: ['read' as const] };
    expect(allowed([readable], { action: 'read' })).toBe(true);
    expect(reasonsOf([readable], { action: 'read' })).toContain('arguments: not evaluated (no arguments in the request)');
  });

  it('make a deny apply only to the calls its schema describes', () => {
    const denyDelete = policy({ effect: 'deny', priority: 5, conditions: { arguments: { properties: { force: { const: true } }, required: ['force'] } } });
    expect(allowed([policy(), denyDelete], { arguments: { force: true } })).toBe(false);
    expect(allowed([policy(), denyDelete], { arguments: { force: false } })).toBe(true);
  });

  it('refuse an invalid or misspelt schema when compiled', () => {
    expect(() => compilePolicies([policy({ name: 'typo', conditions: { arguments: { type: 'object', patern: 'x' } } })])).toThrow(
      /policy "typo": argument constraint is not a valid JSON Schema/,
    );
  });
});

describe('limits', () => {
  it('are returned from every applying allow policy when allowed, and not when denied', () => {
    const broad = policy({ priority: 1, limits: { quota: { calls: 1000, period: 'day' } } });
    const narrow = policy({ priority: 5, resources: { tools: ['github.*'] }, limits: { rate: { calls: 10, windowSeconds: 60 } } });
    const other = policy({ resources: { tools: ['slack.*'] }, limits: { rate: { calls: 1, windowSeconds: 1 } } });
    const unlimited = policy();
    const decision = decide([broad, narrow, other, unlimited], request());
    expect(decision.allowed).toBe(true);
    expect(decision.limits).toEqual([
      { policyId: broad.id, quota: { calls: 1000, period: 'day' } },
      { policyId: narrow.id, rate: { calls: 10, windowSeconds: 60 } },
    ]);
    const deny = policy({ effect: 'deny', priority: 9 });
    expect(decide([broad, narrow, deny], request()).limits).toEqual([]);
  });
});

describe('compiled policies', () => {
  it('decide the same as the raw policies and can be reused across requests', () => {
    const policies = [policy({ subjects: { roles: ['agent'] }, resources: { tools: ['github.*'] } }), policy({ effect: 'deny', resources: { tags: ['danger'] } })];
    const compiled = compilePolicies(policies);
    for (const req of [request(), request({ tool: { name: 'github.rm', tags: ['danger'], provider: 'github' } }), request({ principal: { id: 'x', roles: [] } })]) {
      expect(decide(compiled, req)).toEqual(decide(policies, req));
    }
  });
});

describe('compilation cache', () => {
  it('reuses a policy compiled for the same id and updatedAt, and recompiles when updatedAt changes', () => {
    const first = policy({ id: 'cached', resources: { tools: ['github.*'] }, updatedAt: new Date('2026-01-01T00:00:00Z') });
    expect(allowed([first])).toBe(true);
    // Same id and stamp: the compiled globs are reused, as for an unchanged row.
    expect(allowed([{ ...first, resources: { tools: ['slack.*'] } }])).toBe(true);
    expect(allowed([{ ...first, resources: { tools: ['slack.*'] }, updatedAt: new Date('2026-01-02T00:00:00Z') }])).toBe(false);
    // Without updatedAt nothing is cached by id.
    expect(allowed([{ ...first, resources: { tools: ['slack.*'] }, updatedAt: null }])).toBe(false);
  });
});

describe('clientAddress', () => {
  const proxies = ['10.0.0.0/8', '2001:db8:ffff::/48'];

  it('ignores X-Forwarded-For from an untrusted socket', () => {
    expect(clientAddress('198.51.100.7', '1.2.3.4', proxies)).toBe('198.51.100.7');
    expect(clientAddress('198.51.100.7', '1.2.3.4', [])).toBe('198.51.100.7');
  });

  it('takes the right-most untrusted address behind trusted proxies', () => {
    expect(clientAddress('10.0.0.1', '1.2.3.4', proxies)).toBe('1.2.3.4');
    // The spoofed left-most entry is not believed: 203.0.113.5 is the first untrusted hop from the right.
    expect(clientAddress('10.0.0.1', '6.6.6.6, 203.0.113.5, 10.0.0.2', proxies)).toBe('203.0.113.5');
  });

  it('returns the left-most address when every hop is trusted, and the socket when the header is absent', () => {
    expect(clientAddress('10.0.0.1', '10.0.0.3, 10.0.0.2', proxies)).toBe('10.0.0.3');
    expect(clientAddress('10.0.0.1', undefined, proxies)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', '', proxies)).toBe('10.0.0.1');
  });

  it('normalises IPv4-mapped and IPv6 addresses and bracketed or ported hops', () => {
    expect(clientAddress('::ffff:10.0.0.1', '2001:db8::1', proxies)).toBe('2001:db8::1');
    expect(clientAddress('2001:db8:ffff::1', '[2001:db8::9]:443, 192.0.2.1:5555', proxies)).toBe('192.0.2.1');
    expect(clientAddress('::ffff:198.51.100.7', undefined, proxies)).toBe('198.51.100.7');
  });

  it('returns an unparseable hop as written, which then fails an allow CIDR condition', () => {
    const client = clientAddress('10.0.0.1', 'unknown, 10.0.0.2', proxies);
    expect(client).toBe('unknown');
    expect(allowed([policy({ conditions: { sourceCidrs: ['0.0.0.0/0', '::/0'] } })], { sourceIp: client })).toBe(false);
  });

  it('refuses a trusted proxy entry that is not a CIDR', () => {
    expect(() => clientAddress('10.0.0.1', '1.2.3.4', ['proxy.internal'])).toThrow('trusted proxy "proxy.internal" is not an IP address or CIDR');
  });
});

describe('resourcesName (the policies a released provider name hands on)', () => {
  const tools = ['heirloom.vault', 'heirloom.ledger'];
  it('counts a listed provider, a glob under the provider, or a glob matching one of its tools', () => {
    expect(resourcesName({ providers: ['other', 'heirloom'] }, 'heirloom', tools)).toBe(true);
    expect(resourcesName({ tools: ['heirloom.*'] }, 'heirloom', [])).toBe(true);
    expect(resourcesName({ tools: ['*.vault'] }, 'heirloom', tools)).toBe(true);
    expect(resourcesName({ tools: ['heir*'] }, 'heirloom', tools)).toBe(true);
  });

  it('does not count match-all globs, tags only, or other providers', () => {
    expect(resourcesName({}, 'heirloom', tools)).toBe(false);
    expect(resourcesName({ tools: ['*'] }, 'heirloom', tools)).toBe(false);
    expect(resourcesName({ tools: ['**'], tags: ['finance'] }, 'heirloom', tools)).toBe(false);
    expect(resourcesName({ tools: ['heirloom_b.*', 'other.vault'], providers: ['heirloom_b'] }, 'heirloom', tools)).toBe(false);
  });
});

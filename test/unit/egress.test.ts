import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { ErrorCode, RegistryError } from '../../src/errors.js';
import {
  assertEgressAllowed,
  deniedAddressReason,
  EgressDeniedError,
  type EgressLookup,
  type EgressPolicy,
  parseEgressAllowList,
  PlaintextEgressRefusedError,
} from '../../src/security/egress.js';
import { rejectionOf } from '../helpers/errors.js';

const NONE: EgressPolicy = { allowHosts: [], allowCidrs: [] };

/** A resolver answering from a table; unknown hosts fail like getaddrinfo does. */
function fakeLookup(table: Record<string, string[]>): EgressLookup {
  const lookup = async (hostname: string): Promise<LookupAddress[]> => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return lookup as unknown as EgressLookup;
}

/** A resolver that must not be consulted: IP-literal hosts are judged without DNS. */
const noLookup = (async (hostname: string) => {
  throw new Error(`unexpected DNS lookup of ${hostname}`);
}) as unknown as EgressLookup;

async function denial(url: string, policy: EgressPolicy = NONE, options: Parameters<typeof assertEgressAllowed>[2] = {}) {
  const error = await rejectionOf(assertEgressAllowed(url, policy, { lookup: noLookup, ...options }), EgressDeniedError, `${url} should be denied`);
  expect(error.extensions.code).toBe(ErrorCode.EGRESS_DENIED);
  return error;
}

describe('parseEgressAllowList', () => {
  it('is empty when the variable is unset or blank', () => {
    expect(parseEgressAllowList(undefined)).toEqual(NONE);
    expect(parseEgressAllowList(' , ')).toEqual(NONE);
  });

  it('sorts host names, wildcards, addresses and CIDRs, normalising case and notation', () => {
    const policy = parseEgressAllowList('127.0.0.1, 10.0.0.0/8,API.Internal.Test,*.corp.test, ::1 ,[fd00::]/8,tools.test.,bücher.test,tool_server');
    expect(policy).toEqual({
      allowHosts: ['api.internal.test', '*.corp.test', 'tools.test', 'xn--bcher-kva.test', 'tool_server'],
      allowCidrs: ['127.0.0.1/32', '10.0.0.0/8', '::1/128', 'fd00::/8'],
    });
  });

  it.each([
    'http://api.test',
    'api.test:8080',
    '10.0.0.0/33',
    '10.0.0.0/8/1',
    'api.test/8',
    '::1/129',
    '127.1',
    '0x7f.1',
    '2130706433',
    '*',
    '*.',
    '**.corp.test',
    'a b.test',
    '-bad.test',
    'a..b',
  ])('refuses the entry %j, naming it', (entry) => {
    expect(() => parseEgressAllowList(`api.test,${entry}`)).toThrow(`"${entry}"`);
  });
});

describe('assertEgressAllowed', () => {
  it('sees numeric host tricks the way WHATWG URL parsing normalises them', () => {
    for (const trick of ['http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://017700000001/', 'http://%31%32%37.0.0.1/']) {
      expect(new URL(trick).hostname).toBe('127.0.0.1');
    }
    expect(new URL('http://[::ffff:127.0.0.1]/').hostname).toBe('[::ffff:7f00:1]');
  });

  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://127.255.255.254:8080/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://localhost./', undefined],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'uniqueLocal'],
    ['http://100.100.100.200/latest/meta-data/', 'carrierGradeNat'],
    ['http://10.1.2.3/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://240.0.0.1/', 'reserved'],
    ['http://192.0.2.1/', 'reserved'],
    ['http://[fe80::1]/', 'linkLocal'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:169.254.169.254]/', 'linkLocal'],
    ['http://[::ffff:10.0.0.1]/', 'private'],
    ['http://[::127.0.0.1]/', 'not global unicast'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'rfc6052'],
    ['http://[2002:7f00:1::]/', '6to4'],
  ])('denies %s (%s)', async (url, range) => {
    if (range === undefined) {
      // A host name goes through DNS: `localhost` resolves to loopback.
      const error = await denial(url, NONE, { lookup: fakeLookup({ localhost: ['127.0.0.1', '::1'] }) });
      expect(error.message).toMatch(/"localhost" denied: it resolves to an address in a non-public range \(loopback\)/);
      return;
    }
    const error = await denial(url);
    expect(error.message).toContain(`(${range})`);
    expect(error.message).toContain(`"${new URL(url).hostname.replace(/^\[|\]$/g, '')}"`);
  });

  it('allows public IPv4 and IPv6 addresses without a lookup', async () => {
    await expect(assertEgressAllowed('https://93.184.215.14/x', NONE, { lookup: noLookup })).resolves.toEqual(['93.184.215.14']);
    await expect(assertEgressAllowed('https://[2606:4700::1111]/', NONE, { lookup: noLookup })).resolves.toEqual(['2606:4700::1111']);
  });

  it('denies a host name when any one of its addresses is private, and names the host only', async () => {
    const lookup = fakeLookup({ 'mixed.test': ['93.184.215.14', '10.0.0.7'], 'public.test': ['93.184.215.14', '2606:4700::1111'] });
    const error = await denial('https://mixed.test/path?token=abc', NONE, { lookup });
    expect(error.message).toBe('Outbound request to "mixed.test" denied: it resolves to an address in a non-public range (private) that is not allow-listed');
    expect(error.address).toBe('10.0.0.7');
    expect(error.extensions).toEqual({ code: 'EGRESS_DENIED', host: 'mixed.test' });
    await expect(assertEgressAllowed('https://public.test/', NONE, { lookup })).resolves.toEqual(['93.184.215.14', '2606:4700::1111']);
  });

  it('denies cloud metadata host names and IPv4-mapped answers', async () => {
    const lookup = fakeLookup({ 'metadata.google.internal': ['169.254.169.254'], 'sneaky.test': ['::ffff:7f00:1'] });
    expect((await denial('http://metadata.google.internal/computeMetadata/v1/', NONE, { lookup })).message).toContain('(linkLocal)');
    expect((await denial('http://sneaky.test/', NONE, { lookup })).message).toContain('(loopback)');
  });

  it('reports a host that does not resolve as unavailable, not denied', async () => {
    const error = await assertEgressAllowed('https://nowhere.test/', NONE, { lookup: fakeLookup({}) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).not.toBeInstanceOf(EgressDeniedError);
    expect((error as RegistryError).code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
  });

  it('lets allow-listed addresses and CIDRs through, and nothing next to them', async () => {
    const policy = parseEgressAllowList('127.0.0.1,10.0.0.0/8,fd00::/8');
    const lookup = fakeLookup({ 'db.internal.test': ['10.20.30.40'], 'other.internal.test': ['10.20.30.40', '192.168.0.1'] });
    await expect(assertEgressAllowed('http://127.0.0.1:8080/', policy, { lookup })).resolves.toEqual(['127.0.0.1']);
    await expect(assertEgressAllowed('http://[::ffff:127.0.0.1]/', policy, { lookup })).resolves.toEqual(['::ffff:7f00:1']);
    await expect(assertEgressAllowed('http://[fd12::1]/', policy, { lookup })).resolves.toEqual(['fd12::1']);
    await expect(assertEgressAllowed('http://db.internal.test/', policy, { lookup })).resolves.toEqual(['10.20.30.40']);
    await denial('http://127.0.0.2/', policy);
    await denial('http://[::1]/', policy);
    await denial('http://169.254.169.254/', policy);
    await denial('http://other.internal.test/', policy, { lookup });
  });

  it('lets allow-listed host names through case-insensitively, and wildcards cover subdomains only', async () => {
    const policy = parseEgressAllowList('api.internal.test,*.corp.test');
    const lookup = fakeLookup({
      'api.internal.test': ['10.0.0.1'],
      'tools.corp.test': ['10.0.0.2'],
      'a.b.corp.test': ['10.0.0.3'],
      'corp.test': ['10.0.0.4'],
      'evilcorp.test': ['10.0.0.5'],
      'api.internal.test.evil.test': ['10.0.0.6'],
    });
    await expect(assertEgressAllowed('http://API.Internal.Test./x', policy, { lookup })).resolves.toEqual(['10.0.0.1']);
    await expect(assertEgressAllowed('https://tools.corp.test/', policy, { lookup })).resolves.toEqual(['10.0.0.2']);
    await expect(assertEgressAllowed('https://a.b.corp.test/', policy, { lookup })).resolves.toEqual(['10.0.0.3']);
    await denial('https://corp.test/', policy, { lookup });
    await denial('https://evilcorp.test/', policy, { lookup });
    await denial('https://api.internal.test.evil.test/', policy, { lookup });
  });

  it.each(['file:///etc/passwd', 'gopher://127.0.0.1:6379/_FLUSHALL', 'ftp://ftp.example.com/', 'data:text/plain,hi', 'javascript:alert(1)', 'ws://example.com/'])(
    'refuses the scheme of %s',
    async (url) => {
      expect((await denial(url)).message).toMatch(/scheme "[a-z]+:" is not allowed \(only http, https\)/);
    },
  );

  it('accepts ws and wss only when asked, and still checks their addresses', async () => {
    const options = { allowWebSocket: true, lookup: noLookup };
    await expect(assertEgressAllowed('wss://93.184.215.14/socket', NONE, options)).resolves.toEqual(['93.184.215.14']);
    await expect(assertEgressAllowed('ws://93.184.215.14/socket', NONE, options)).resolves.toEqual(['93.184.215.14']);
    expect((await denial('ws://127.0.0.1:9000/', NONE, options)).message).toContain('(loopback)');
    expect((await denial('ftp://93.184.215.14/', NONE, options)).message).toContain('only http, https, ws, wss');
  });

  it('refuses URLs with credentials without repeating them, or the query string', async () => {
    for (const url of ['https://user:s3cret@93.184.215.14/?token=abc', 'https://s3cret@93.184.215.14/?token=abc', 'https://:s3cret@93.184.215.14/?token=abc']) {
      const error = await denial(url);
      expect(error.message).toBe('Outbound request to "93.184.215.14" denied: URLs must not carry credentials');
    }
    const error = await denial('http://127.0.0.1/admin?token=abc');
    expect(error.message).not.toContain('abc');
    expect(error.message).not.toContain('admin');
  });

  it('refuses an unparsable URL without echoing it', async () => {
    const error = await denial('http://user:s3cret@[not-an-address/');
    expect(error.message).toBe('Outbound request denied: not a valid URL');
  });
});

describe('deniedAddressReason', () => {
  it('names the range of a denied address, and nothing for a public one', () => {
    expect(deniedAddressReason('10.0.0.1', NONE)).toBe('private');
    expect(deniedAddressReason('::ffff:a9fe:a9fe', NONE)).toBe('linkLocal');
    expect(deniedAddressReason('not-an-ip', NONE)).toBe('not an IP address');
    expect(deniedAddressReason('8.8.8.8', NONE)).toBeUndefined();
    expect(deniedAddressReason('10.0.0.1', { allowHosts: [], allowCidrs: ['::ffff:10.0.0.0/104'] })).toBeUndefined();
  });
});

describe('plain-text egress (production)', () => {
  const PRODUCTION: EgressPolicy = { allowHosts: [], allowCidrs: ['127.0.0.1/32'], plaintextAllow: ['localhost', '::1'] };
  const publicLookup = fakeLookup({ 'api.example.com': ['93.184.216.34'], localhost: ['127.0.0.1'] });

  it('refuses http:// and ws:// to hosts not listed, naming only the host', async () => {
    for (const url of ['http://api.example.com/v1/secret-path?key=abc', 'ws://api.example.com/socket', 'http://127.0.0.1:8080/']) {
      const error = await rejectionOf(assertEgressAllowed(url, PRODUCTION, { allowWebSocket: true, lookup: publicLookup }), PlaintextEgressRefusedError, url);
      expect(error.extensions).toEqual({ code: ErrorCode.PLAINTEXT_EGRESS_REFUSED, host: new URL(url).hostname });
      expect(error.message).not.toContain('secret-path');
    }
  });

  it('allows https://, wss:// and the listed hosts in plain text, and everything where plain text is not refused', async () => {
    await expect(assertEgressAllowed('https://api.example.com/', PRODUCTION, { lookup: publicLookup })).resolves.toEqual(['93.184.216.34']);
    await expect(assertEgressAllowed('wss://api.example.com/', PRODUCTION, { allowWebSocket: true, lookup: publicLookup })).resolves.toEqual(['93.184.216.34']);
    await expect(assertEgressAllowed('http://LOCALHOST:8080/', PRODUCTION, { lookup: publicLookup })).resolves.toEqual(['127.0.0.1']);
    await expect(assertEgressAllowed('http://api.example.com/', NONE, { lookup: publicLookup })).resolves.toEqual(['93.184.216.34']);
  });
});

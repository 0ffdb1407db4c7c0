import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrProblem, ipAllowed } from '../../src/policy/ip-ranges.ts';

describe('allowedIps matching', () => {
  it('matches IPv4 CIDR blocks and single addresses', () => {
    assert.equal(ipAllowed(['10.0.1.0/24'], '10.0.1.77'), true);
    assert.equal(ipAllowed(['10.0.1.0/24'], '10.0.2.1'), false);
    assert.equal(ipAllowed(['192.0.2.5'], '192.0.2.5'), true);
    assert.equal(ipAllowed(['0.0.0.0/0'], '203.0.113.9'), true);
  });

  it('matches IPv6 CIDR blocks', () => {
    assert.equal(ipAllowed(['2001:db8::/32'], '2001:db8:1::5'), true);
    assert.equal(ipAllowed(['2001:db8::/32'], '2001:db9::1'), false);
    assert.equal(ipAllowed(['::1/128'], '::1'), true);
  });

  it('treats an IPv4-mapped IPv6 caller as its IPv4 address', () => {
    assert.equal(ipAllowed(['127.0.0.0/8'], '::ffff:127.0.0.1'), true);
    assert.equal(ipAllowed(['10.0.0.0/8'], '::ffff:127.0.0.1'), false);
  });

  it('never matches across families or garbage', () => {
    assert.equal(ipAllowed(['10.0.0.0/8'], '2001:db8::1'), false);
    assert.equal(ipAllowed(['10.0.0.0/8'], 'not-an-ip'), false);
  });

  it('explains malformed entries', () => {
    assert.equal(cidrProblem('10.0.0.0/8'), null);
    assert.equal(cidrProblem('2001:db8::/32'), null);
    assert.match(cidrProblem('10.0.0.0/33') ?? '', /0 to 32/);
    assert.match(cidrProblem('example.com/8') ?? '', /IPv4 or IPv6/);
    assert.match(cidrProblem('10.0.0.0/8/8') ?? '', /more than one/);
    assert.match(cidrProblem('::1/129') ?? '', /0 to 128/);
  });
});

describe('cached allowedIps matching', () => {
  it('answers as ipAllowed does, for each distinct range list, within its bound', async () => {
    const { cachedIpMatcher } = await import('../../src/policy/ip-ranges.ts');
    const allowed = cachedIpMatcher(2);
    assert.equal(allowed(['10.0.1.0/24'], '10.0.1.77'), true);
    assert.equal(allowed(['10.0.1.0/24'], '10.0.2.1'), false);
    assert.equal(allowed(['2001:db8::/32'], '2001:db8:1::5'), true);
    assert.equal(allowed(['127.0.0.0/8'], '::ffff:127.0.0.1'), true);
    // A third list evicts the oldest; answers stay right.
    assert.equal(allowed(['10.0.1.0/24'], '10.0.1.1'), true);
    assert.equal(allowed(['10.0.0.0/8'], 'not-an-ip'), false);
  });
});

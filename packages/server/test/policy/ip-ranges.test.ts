import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, allowedIpsWithin, cidrProblem, ipAllowed } from '../../src/policy/ip-ranges.ts';

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

describe('one allowedIps list within another', () => {
  it('holds when each block lies inside one block of the other, of its family', () => {
    assert.equal(allowedIpsWithin(['10.1.2.0/24', '10.9.0.0/16'], ['10.0.0.0/8']), true);
    assert.equal(allowedIpsWithin(['10.1.2.3'], ['10.1.2.0/24']), true);
    assert.equal(allowedIpsWithin(['10.1.2.0/24'], ['10.1.2.0/24']), true);
    assert.equal(allowedIpsWithin(['2001:db8:1::/48', '::1'], ['2001:db8::/32', '::1/128']), true);
    // Host bits of the outer block do not count, as they do not when matching.
    assert.equal(allowedIpsWithin(['10.1.0.0/16'], ['10.200.3.4/8']), true);
  });

  it('holds for any list inside the empty list (anywhere), and for the empty list only inside itself', () => {
    assert.equal(allowedIpsWithin(['10.0.0.0/8'], []), true);
    assert.equal(allowedIpsWithin([], []), true);
    assert.equal(allowedIpsWithin([], ['0.0.0.0/0']), false);
  });

  it('fails for a wider or disjoint block, the other family, a block covered only by two, and a zone index', () => {
    assert.equal(allowedIpsWithin(['10.0.0.0/7'], ['10.0.0.0/8']), false);
    assert.equal(allowedIpsWithin(['11.0.0.0/8'], ['10.0.0.0/8']), false);
    assert.equal(allowedIpsWithin(['10.0.0.0/8', '12.0.0.0/8'], ['10.0.0.0/8']), false);
    assert.equal(allowedIpsWithin(['::ffff:10.0.0.0/104'], ['10.0.0.0/8']), false);
    assert.equal(allowedIpsWithin(['10.0.0.0/8'], ['::/0']), false);
    assert.equal(allowedIpsWithin(['10.0.0.0/8'], ['10.0.0.0/9', '10.128.0.0/9']), false);
    assert.equal(allowedIpsWithin(['fe80::1%eth0'], ['fe80::/10']), false);
    assert.equal(allowedIpsWithin(['2001:db9::/32'], ['2001:db8::/32']), false);
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

describe('the key a per-address limit counts a caller by', () => {
  it('keeps an IPv4 address as it is', () => {
    assert.equal(addressKey('203.0.113.9'), '203.0.113.9');
    assert.notEqual(addressKey('203.0.113.9'), addressKey('203.0.113.10'));
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address, in either spelling', () => {
    assert.equal(addressKey('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(addressKey('::ffff:cb00:7109'), '203.0.113.9');
    assert.equal(addressKey('0:0:0:0:0:FFFF:203.0.113.9'), '203.0.113.9');
  });

  it('counts every address of one IPv6 /64 as one key, however it is written', () => {
    const key = addressKey('2001:db8:1:2::1');
    assert.equal(key, '2001:db8:1:2::/64');
    for (const address of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:abcd::7', '2001:db8:1:2:0:0:1.2.3.4', '2001:db8:1:2::9%eth0']) {
      assert.equal(addressKey(address), key, address);
    }
  });

  it('counts an IPv4 client translated by NAT64 (64:ff9b::/96) or written IPv4-compatible as its IPv4 address', () => {
    assert.equal(addressKey('64:ff9b::c633:6442'), '198.51.100.66');
    assert.equal(addressKey('64:ff9b::198.51.100.66'), '198.51.100.66');
    assert.equal(addressKey('64:FF9B:0:0:0:0:cb00:710a'), '203.0.113.10');
    assert.notEqual(addressKey('64:ff9b::c633:6442'), addressKey('64:ff9b::cb00:710a'));
    assert.equal(addressKey('::203.0.113.9'), '203.0.113.9');
    // Not translated: the rest of 64:ff9b::/64, and ::1 (loopback) and :: stay as they were.
    assert.equal(addressKey('64:ff9b::1:c633:6442'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('::'), '0:0:0:0::/64');
  });

  it('keeps neighbouring /64s apart', () => {
    assert.equal(addressKey('2001:db8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1'), 'fe80:0:0:0::/64');
  });

  it('keeps what is not an address as its own key', () => {
    assert.equal(addressKey('unknown'), 'unknown');
    assert.equal(addressKey('1::2::3'), '1::2::3');
    assert.equal(addressKey(''), '');
  });
});

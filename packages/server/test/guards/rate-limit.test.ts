// Token buckets per address (before authentication) and per proven client (after it), on an
// injected clock: bursts, refills, Retry-After, the AUTH_106 answer, claimed ids that spend no
// client's tokens, limits turned off, and memory that stays bounded under made-up keys.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OAuthError } from '../../src/oauth2/errors.ts';
import { TokenBuckets, createRateLimitGate, type LimitKind } from '../../src/guards/rate-limit.ts';
import { MAX_KEY_LENGTH } from '../../src/guards/caller-text.ts';
import type { ClientEndpoint } from '../../src/oauth2/client-guard.ts';

const T0 = 1_700_000_000_000;
const off = { rate: 0, burst: 0 };

function refusal(fn: () => void): OAuthError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof OAuthError, String(error));
    return error;
  }
  assert.fail('expected the request to be refused');
}

describe('TokenBuckets', () => {
  it('allows a burst back to back, then makes the caller wait for the next token', () => {
    const buckets = new TokenBuckets({ rate: 2, burst: 3 });
    for (let i = 0; i < 3; i++) assert.equal(buckets.take('a', T0), 0);
    assert.equal(buckets.take('a', T0), 500);
    // A refused take spends nothing: the wait shrinks with time alone.
    assert.equal(buckets.take('a', T0 + 200), 300);
    assert.equal(buckets.take('a', T0 + 500), 0);
  });

  it('refills at the configured rate and never beyond the burst', () => {
    const buckets = new TokenBuckets({ rate: 10, burst: 5 });
    for (let i = 0; i < 5; i++) buckets.take('a', T0);
    // An hour later the bucket holds 5, not 36 000.
    let allowed = 0;
    while (buckets.take('a', T0 + 3_600_000) === 0) allowed++;
    assert.equal(allowed, 5);
  });

  it('keeps one bucket per key', () => {
    const buckets = new TokenBuckets({ rate: 1, burst: 1 });
    buckets.take('a', T0);
    assert.ok(buckets.take('a', T0) > 0);
    assert.equal(buckets.take('b', T0), 0);
  });

  it('tolerates a clock that steps back', () => {
    const buckets = new TokenBuckets({ rate: 1, burst: 1 });
    buckets.take('a', T0);
    assert.equal(buckets.take('a', T0 - 60_000), 1000);
    assert.equal(buckets.take('a', T0 + 1000), 0);
  });

  it('forgets a bucket once it would be full again', () => {
    const buckets = new TokenBuckets({ rate: 10, burst: 20 });
    for (let i = 0; i < 100; i++) buckets.take(`client-${i}`, T0);
    assert.equal(buckets.trackedKeys, 100);
    buckets.take('late', T0 + 2000);
    assert.equal(buckets.trackedKeys, 1);
  });

  it('refuses to build a bucket that could never hold a token', () => {
    assert.throws(() => new TokenBuckets({ rate: 0, burst: 5 }), RangeError);
    assert.throws(() => new TokenBuckets({ rate: 5, burst: 0 }), RangeError);
  });
});

describe('rate-limit gate', () => {
  const claimed = (claimedClientId: string | undefined, now = T0, clientIp = '192.0.2.1') => ({ clientIp, claimedClientId, now });
  const proven = (principal: string, now = T0, clientIp = '192.0.2.1', endpoint: ClientEndpoint = 'token') => ({ clientIp, principal, endpoint, now });

  it('answers 429 rate_limited AUTH_106 with a Retry-After in whole seconds once a proven client spends its burst', () => {
    const limited: LimitKind[] = [];
    const gate = createRateLimitGate({ client: { rate: 1, burst: 2 }, ip: off }, { onLimited: (kind) => limited.push(kind) })!;
    gate.afterAuthentication(proven('alpha.api'));
    gate.afterAuthentication(proven('alpha.api'));
    const error = refusal(() => gate.afterAuthentication(proven('alpha.api', T0 + 1)));
    assert.equal(error.status, 429);
    assert.equal(error.error, 'rate_limited');
    assert.equal(error.errorCode, 'AUTH_106');
    assert.equal(error.headers['retry-after'], '1');
    assert.match(error.message, /client "alpha\.api"/);
    assert.match(error.message, /retry after 1 s/);
    // The body keeps to RFC 6749 §5.2: the quotes around the client id become single quotes.
    const description = error.message.replaceAll('"', "'");
    assert.deepEqual(error.toBody(), { error: 'rate_limited', error_description: description, error_code: 'AUTH_106' });
    assert.deepEqual(limited, ['client']);
  });

  it('gives a proven client one budget per endpoint: introspections do not spend its tokens', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: off })!;
    gate.afterAuthentication(proven('alpha.rs', T0, '192.0.2.1', 'introspect'));
    const error = refusal(() => gate.afterAuthentication(proven('alpha.rs', T0, '192.0.2.1', 'introspect')));
    assert.match(error.message, /too many requests for introspect requests of client "alpha\.rs"/);
    assert.doesNotMatch(error.message, /reuse the token/);
    assert.doesNotThrow(() => gate.afterAuthentication(proven('alpha.rs', T0, '192.0.2.1', 'token')));
    assert.doesNotThrow(() => gate.afterAuthentication(proven('alpha.rs', T0, '192.0.2.1', 'revoke')));
  });

  it('rounds Retry-After up, so a caller that waits that long gets through', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: off })!;
    gate.afterAuthentication(proven('a.slow', T0));
    const error = refusal(() => gate.afterAuthentication(proven('a.slow', T0 + 10)));
    assert.equal(error.headers['retry-after'], '1');
    const sparse = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: off })!;
    sparse.afterAuthentication(proven('a.x', T0));
    assert.doesNotThrow(() => sparse.afterAuthentication(proven('a.x', T0 + Number(error.headers['retry-after']) * 1000)));
    const byAddress = createRateLimitGate({ client: off, ip: { rate: 0.4, burst: 1 } })!;
    byAddress.beforeAuthentication(claimed('a.x', T0));
    assert.equal(refusal(() => byAddress.beforeAuthentication(claimed('a.x', T0 + 1))).headers['retry-after'], '3');
  });

  it('lets a limited client through again once its bucket refills', () => {
    const gate = createRateLimitGate({ client: { rate: 2, burst: 2 }, ip: off })!;
    gate.afterAuthentication(proven('alpha.api'));
    gate.afterAuthentication(proven('alpha.api'));
    refusal(() => gate.afterAuthentication(proven('alpha.api')));
    assert.doesNotThrow(() => gate.afterAuthentication(proven('alpha.api', T0 + 500)));
    refusal(() => gate.afterAuthentication(proven('alpha.api', T0 + 500)));
  });

  it('limits each client on its own, from any address', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: off })!;
    gate.afterAuthentication(proven('alpha.api', T0, '192.0.2.1'));
    refusal(() => gate.afterAuthentication(proven('alpha.api', T0, '192.0.2.2')));
    assert.doesNotThrow(() => gate.afterAuthentication(proven('alpha.other')));
  });

  it('spends no client’s tokens for a client id that is only claimed', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: { rate: 1000, burst: 1000 } })!;
    // A stranger naming alpha.api a hundred times, every one of them failing authentication.
    for (let i = 0; i < 100; i++) gate.beforeAuthentication(claimed('alpha.api', T0, '203.0.113.66'));
    assert.deepEqual(gate.trackedKeys, { client: 0, ip: 1 });
    assert.doesNotThrow(() => gate.afterAuthentication(proven('alpha.api', T0, '192.0.2.1')));
  });

  it('limits a source address before authentication, across every client id it names or none', () => {
    const limited: LimitKind[] = [];
    const gate = createRateLimitGate({ client: { rate: 100, burst: 100 }, ip: { rate: 1, burst: 3 } }, { onLimited: (kind) => limited.push(kind) })!;
    for (const id of ['a.one', 'a.two', undefined]) gate.beforeAuthentication(claimed(id, T0, '203.0.113.9'));
    const error = refusal(() => gate.beforeAuthentication(claimed('a.four', T0, '203.0.113.9')));
    assert.equal(error.status, 429);
    assert.equal(error.errorCode, 'AUTH_106');
    assert.match(error.message, /address 203\.0\.113\.9/);
    assert.deepEqual(limited, ['ip']);
    assert.doesNotThrow(() => gate.beforeAuthentication(claimed('a.four', T0, '203.0.113.10')));
  });

  it('leaves the address token spent when the client limit refuses, and never spends a client token before authentication', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: { rate: 1, burst: 3 } })!;
    const ip = '198.51.100.1';
    gate.beforeAuthentication(claimed('a.one', T0, ip));
    gate.afterAuthentication(proven('a.one', T0, ip));
    gate.beforeAuthentication(claimed('a.one', T0, ip));
    refusal(() => gate.afterAuthentication(proven('a.one', T0, ip)));
    // Two of the address's three tokens are gone; the client refusal kept its one.
    gate.beforeAuthentication(claimed('a.two', T0, ip));
    assert.match(refusal(() => gate.beforeAuthentication(claimed('a.two', T0, ip))).message, /address/);
    // The address refusal happened before authentication: a.two still has its own token.
    assert.doesNotThrow(() => gate.afterAuthentication(proven('a.two', T0, '198.51.100.2')));
  });

  it('counts a whole IPv6 /64 as one address, so a caller rotating through it meets the limit', () => {
    const gate = createRateLimitGate({ client: off, ip: { rate: 1, burst: 2 } })!;
    gate.beforeAuthentication(claimed(undefined, T0, '2001:db8:1:2::1'));
    gate.beforeAuthentication(claimed(undefined, T0, '2001:db8:1:2:9f3e:11aa:4c2d:7'));
    const error = refusal(() => gate.beforeAuthentication(claimed(undefined, T0, '2001:db8:1:2:ffff::3')));
    assert.equal(error.status, 429);
    assert.match(error.message, /too many requests for addresses in 2001:db8:1:2::\/64 /);
    assert.doesNotThrow(() => gate.beforeAuthentication(claimed(undefined, T0, '2001:db8:1:3::1')), 'the next /64 has its own budget');
  });

  it('counts an IPv4-mapped IPv6 caller as its IPv4 address', () => {
    const gate = createRateLimitGate({ client: off, ip: { rate: 1, burst: 1 } })!;
    gate.beforeAuthentication(claimed(undefined, T0, '192.0.2.7'));
    const error = refusal(() => gate.beforeAuthentication(claimed(undefined, T0, '::ffff:192.0.2.7')));
    assert.match(error.message, /address 192\.0\.2\.7 /);
  });

  it('is absent when both rates are 0, and checks only the other limit when one is', () => {
    assert.equal(createRateLimitGate({ client: off, ip: off }), null);
    const ipOnly = createRateLimitGate({ client: off, ip: { rate: 1, burst: 1 } })!;
    ipOnly.beforeAuthentication(claimed('a.one', T0, '192.0.2.7'));
    assert.doesNotThrow(() => ipOnly.beforeAuthentication(claimed('a.one', T0, '192.0.2.8')));
    for (let i = 0; i < 10; i++) ipOnly.afterAuthentication(proven('a.one', T0, '192.0.2.8'));
    assert.deepEqual(ipOnly.trackedKeys, { client: 0, ip: 2 });
    const clientOnly = createRateLimitGate({ client: { rate: 1, burst: 1 }, ip: off })!;
    for (let i = 0; i < 100; i++) clientOnly.beforeAuthentication(claimed('a.c0'));
    for (let i = 0; i < 100; i++) clientOnly.afterAuthentication(proven(`a.c${i}`));
    assert.deepEqual(clientOnly.trackedKeys, { client: 100, ip: 0 });
  });

  it('tracks no client bucket for made-up client ids, and at most maxKeys for proven ones', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 5 }, ip: { rate: 1_000_000, burst: 1_000_000 } }, { maxKeys: 1000 })!;
    for (let i = 0; i < 100_000; i++) gate.beforeAuthentication(claimed(`made-up-${i}`, T0 + Math.floor(i / 1000)));
    assert.deepEqual(gate.trackedKeys, { client: 0, ip: 1 });
    for (let i = 0; i < 100_000; i++) gate.afterAuthentication(proven(`a.s${i}`, T0 + Math.floor(i / 1000)));
    assert.ok(gate.trackedKeys.client <= 1000, `tracked ${gate.trackedKeys.client}`);
  });

  it('stays bounded under the default cap too, and cuts absurdly long keys', () => {
    const gate = createRateLimitGate({ client: { rate: 1, burst: 5 }, ip: off })!;
    for (let i = 0; i < 100_000; i++) gate.afterAuthentication(proven(`${i}-${'x'.repeat(300)}`));
    assert.ok(gate.trackedKeys.client <= 50_000, `tracked ${gate.trackedKeys.client}`);
    // Two keys that agree on their first MAX_KEY_LENGTH characters share one bucket.
    const cut = createRateLimitGate({ client: off, ip: { rate: 1, burst: 1 } })!;
    cut.beforeAuthentication(claimed(undefined, T0, `${'y'.repeat(MAX_KEY_LENGTH)}-first`));
    refusal(() => cut.beforeAuthentication(claimed(undefined, T0, `${'y'.repeat(MAX_KEY_LENGTH)}-second`)));
  });
});

// Review 11: attacks on the per-address rate limit of POST /console/oidc/session
// (console/oidc.ts, consoleSignInRateLimit): getting past it (X-Forwarded-For from a peer that is
// not a trusted proxy, spellings of one IPv6 address, path and method variations, bodies that do
// not parse), making it refuse someone else (a bucket keyed on what the caller chooses or shares
// with others), and what its answer tells. One hole was found (NAT64 clients sharing a bucket) and fixed; the others
// are attacks that were refused and guard against regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { consoleSignInAt, startTestProvider, type TestProvider } from '@tessera/testkit/oidc-provider';
import { freePort } from '@tessera/testkit/port';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const BURST = 3;

describe('review 11: the console sign-in rate limit', () => {
  let idp: TestProvider;
  /** Trusts no proxy: every request is from 127.0.0.1 whatever it says. */
  let direct: TestServer;
  /** Trusts 127.0.0.1 as a proxy: the address is the last one X-Forwarded-For names. */
  let proxied: TestServer;
  let clock = Date.now();

  const body = (t: TestServer): string => JSON.stringify({ code: 'not-a-code', codeVerifier: 'v'.repeat(43), nonce: 'n', redirectUri: `${t.url}/console/` });
  const attempt = (t: TestServer, options: { path?: string; method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<TestResponse> =>
    t.send(options.path ?? '/console/oidc/session', {
      method: options.method ?? 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: options.body ?? body(t),
    });
  /** Spends the whole bucket of what `headers` make the caller, then checks the next attempt is refused. */
  const exhaust = async (t: TestServer, headers: Record<string, string> = {}): Promise<void> => {
    for (let i = 0; i < BURST + 1; i++) await attempt(t, { headers });
    const refused = await attempt(t, { headers });
    assert.equal(refused.status, 429, refused.text);
  };
  /** A fresh bucket for everyone: the idle time after which a bucket is full again. */
  const refill = (): void => {
    clock += 60_000;
  };

  const start = async (url: string, proxies: string | null): Promise<TestServer> =>
    startTestServer({
      flags: { listen: url },
      env: {
        TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: '1',
        TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: String(BURST),
        ...(proxies === null ? {} : { TESSERA_TRUSTED_PROXIES: proxies }),
      },
      now: () => clock,
      edit: (config) => consoleSignInAt(idp, config),
    });

  before(async () => {
    const urls = [`https://127.0.0.1:${await freePort()}`, `https://127.0.0.1:${await freePort()}`] as const;
    idp = await startTestProvider({ redirectUris: urls.map((url) => `${url}/console/`) });
    direct = await start(urls[0], null);
    proxied = await start(urls[1], '127.0.0.1/32');
  });
  after(async () => {
    await direct?.stop();
    await proxied?.stop();
    await idp?.close();
  });

  it('X-Forwarded-For (and Forwarded, X-Real-IP) from a peer that is not a trusted proxy buys no fresh bucket', async () => {
    refill();
    for (let i = 0; i < BURST; i++) assert.notEqual((await attempt(direct, { headers: { 'x-forwarded-for': `198.51.100.${i}` } })).status, 429);
    const claims: Record<string, string>[] = [
      { 'x-forwarded-for': '198.51.100.200' },
      { forwarded: 'for=198.51.100.201' },
      { 'x-real-ip': '198.51.100.202' },
      { 'x-forwarded-for': '::1' },
      { 'x-client-ip': '10.0.0.1', 'true-client-ip': '10.0.0.2', 'cf-connecting-ip': '10.0.0.3' },
    ];
    for (const headers of claims) {
      const res = await attempt(direct, { headers });
      assert.equal(res.status, 429, `${JSON.stringify(headers)}: ${res.text}`);
      // The answer names the peer's own address, never what a header claimed.
      assert.match(res.json.message, /from address 127\.0\.0\.1 /);
      assert.equal(res.headers['cache-control'], 'no-store');
    }
  });

  it('no path, method or encoding variation reaches the sign-in handler past the limit', async () => {
    refill();
    await exhaust(direct);
    const variants: { path: string; method?: string }[] = [
      { path: '/console/oidc/session/' },
      { path: '/console/oidc/session?x=1' },
      { path: '/console/oidc/session#x' },
      { path: '/console/oidc//session' },
      { path: '//console/oidc/session' },
      { path: '/console//oidc/session' },
      { path: '/CONSOLE/oidc/session' },
      { path: '/console/OIDC/Session' },
      { path: '/console/oidc/session%2F' },
      { path: '/console/oidc%2Fsession' },
      { path: '/console/%6fidc/session' },
      { path: '/console/oidc/session;x' },
      { path: '/console/oidc/session%00' },
      { path: '/console/oidc/session', method: 'PUT' },
      { path: '/console/oidc/session', method: 'PATCH' },
    ];
    for (const { path, method } of variants) {
      const res = await attempt(direct, { path, ...(method ? { method } : {}) });
      // 429 when it is the route; otherwise never routed to the handler (404/405/400 of the router), never the provider's answer.
      assert.ok([429, 404, 405, 400].includes(res.status), `${method ?? 'POST'} ${path}: ${res.status} ${res.text}`);
      if (res.status === 400) assert.doesNotMatch(res.text, /sign-in|provider|redirectUri/i, `${path}: ${res.text}`);
    }
    for (const method of ['HEAD', 'OPTIONS', 'GET']) {
      const res = await direct.send('/console/oidc/session', { method });
      assert.ok([404, 405, 429].includes(res.status), `${method}: ${res.status} ${res.text}`);
    }
  });

  it('bodies that do not parse are counted, before they are read (a 429 comes before a 413 or a 400)', async () => {
    refill();
    for (let i = 0; i < BURST; i++) {
      const res = await attempt(direct, { body: '{not json' });
      assert.equal(res.status, 400, res.text);
    }
    for (const options of [
      {},
      { body: '{not json' },
      { body: 'x'.repeat(64 * 1024) },
      { headers: { 'content-type': 'text/plain' }, body: 'code=x' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'code=x' },
      { headers: { 'content-type': 'application/json; charset=utf-16' } },
    ]) {
      const res = await attempt(direct, options);
      assert.equal(res.status, 429, `${JSON.stringify(options).slice(0, 120)}: ${res.text}`);
    }
  });

  it('behind a trusted proxy, the client cannot spend the bucket of an address it names (the proxy appends the real one)', async () => {
    refill();
    // The attacker (198.51.100.66 as the proxy saw it) claims the victim's address first in the chain.
    await exhaust(proxied, { 'x-forwarded-for': '192.0.2.10, 198.51.100.66' });
    const victim = await attempt(proxied, { headers: { 'x-forwarded-for': '192.0.2.10' } });
    assert.notEqual(victim.status, 429, victim.text);
  });

  it('behind a trusted proxy, spellings of one IPv6 address (and an IPv4-mapped IPv4 address) share one bucket', async () => {
    refill();
    await exhaust(proxied, { 'x-forwarded-for': '2001:db8:1:2::5' });
    for (const spelling of [
      '2001:0db8:0001:0002:0000:0000:0000:0005',
      '2001:DB8:1:2::5',
      '2001:db8:1:2:0:0:0:5',
      '2001:db8:1:2::ffff',
      '2001:db8:1:2::5%eth0',
    ]) {
      const res = await attempt(proxied, { headers: { 'x-forwarded-for': spelling } });
      assert.equal(res.status, 429, `${spelling}: ${res.text}`);
    }
    await exhaust(proxied, { 'x-forwarded-for': '203.0.113.7' });
    for (const spelling of ['::ffff:203.0.113.7', '::ffff:cb00:7107', '0:0:0:0:0:ffff:203.0.113.7']) {
      const res = await attempt(proxied, { headers: { 'x-forwarded-for': spelling } });
      assert.equal(res.status, 429, `${spelling}: ${res.text}`);
    }
  });

  // Found by this review and fixed: addresses are grouped by /64 for IPv6, and IPv4 translated into IPv6 by a NAT64 gateway
  // (64:ff9b::/96, RFC 6052) keeps the IPv4 client in the last 32 bits: every IPv4 client reaching
  // the server through NAT64 lands in the one bucket "64:ff9b:0:0::/64", so one of them spending it
  // refuses console sign-in to all the others (the same key as the token endpoint's address
  // bucket, addressKey). IPv4-compatible addresses (::a.b.c.d) likewise all share "0:0:0:0::/64"
  // with ::1. Severity: low (needs a NAT64 path; a denial of sign-in, not a bypass). Now each is
  // counted as its IPv4 address (policy/ip-ranges.ts addressKey).
  it('two IPv4 clients translated by NAT64 (64:ff9b::/96) do not share one bucket', async () => {
    refill();
    await exhaust(proxied, { 'x-forwarded-for': '64:ff9b::c633:6442' }); // 198.51.100.66, the attacker
    const other = await attempt(proxied, { headers: { 'x-forwarded-for': '64:ff9b::cb00:710a' } }); // 203.0.113.10
    assert.notEqual(other.status, 429, other.text);
  });

  it("sign-ins and the token endpoint keep separate buckets: a flood of one does not lock the other's callers out", async () => {
    refill();
    await exhaust(direct);
    const token = await direct.token('nobody.svc', 'wrong', { grant_type: 'client_credentials' });
    assert.notEqual(token.status, 429, token.text);
  });
});

// POST /console/oidc/session has a rate limit of its own per source address
// (consoleSignInRateLimit): each call makes the server call the OpenID provider, so a flood from
// one address is refused with 429 and Retry-After before any of that work.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { consoleSignInAt, startTestProvider, type TestProvider } from '@tessera/testkit/oidc-provider';
import { freePort } from '@tessera/testkit/port';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { loadConfig } from '../../src/config/load.ts';

describe('console sign-in rate limit', () => {
  let t: TestServer;
  let idp: TestProvider;
  let clock = Date.now();

  /** A sign-in attempt with a made-up code (refused by the provider) from `ip` (through the trusted proxy). */
  const attempt = (ip: string) =>
    t.send('/console/oidc/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ code: 'not-a-code', codeVerifier: 'v'.repeat(43), nonce: 'n', redirectUri: `${t.url}/console/` }),
    });

  before(async () => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    idp = await startTestProvider({ redirectUris: [`${url}/console/`] });
    t = await startTestServer({
      flags: { listen: url },
      env: { TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: '1', TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: '3', TESSERA_TRUSTED_PROXIES: '127.0.0.1/32' },
      now: () => clock,
      edit: (config) => consoleSignInAt(idp, config),
    });
  });
  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  it('refuses past the budget with 429 and Retry-After, counts addresses apart, and refills', async () => {
    for (let i = 0; i < 3; i++) assert.notEqual((await attempt('192.0.2.1')).status, 429);
    const refused = await attempt('192.0.2.1');
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json.error, 'rate_limited');
    assert.match(refused.json.message, /too many sign-ins from address 192\.0\.2\.1 \(at most 1 per second, bursts of 3\); retry after 1 s/);
    // Another address has its own bucket.
    assert.notEqual((await attempt('192.0.2.2')).status, 429);
    // A second later, one more.
    clock += 1000;
    assert.notEqual((await attempt('192.0.2.1')).status, 429);
    assert.equal((await attempt('192.0.2.1')).status, 429);
  });
});

describe('consoleSignInRateLimit configuration', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ flags: { dataDir: '/tmp/x' }, env, cwd: '/tmp' });

  it('defaults to 1 per second, bursts of 10', () => {
    assert.deepEqual(load({})().consoleSignInRateLimit, { rate: 1, burst: 10 });
  });

  it('refuses values that are not whole numbers, and a burst below the rate, saying what to fix', () => {
    assert.throws(
      load({ TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: 'fast' }),
      /TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: expected a whole number of at least 0, got "fast"/,
    );
    assert.throws(load({ TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: '-1' }), /TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: expected a whole number of at least 0/);
    assert.throws(
      load({ TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: '5', TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: '2' }),
      /consoleSignInRateLimit\.burst is 2 but must be at least consoleSignInRateLimit\.rate \(5\)/,
    );
    assert.deepEqual(load({ TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: '0' })().consoleSignInRateLimit.rate, 0);
  });
});

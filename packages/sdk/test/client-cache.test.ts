// The token client's cache rules, with time driven by mock timers and a token server that lives
// in a fetch function: the 1/4 rule, half-life refresh and its jitter, idle entries, single
// flight, stale-on-error and no refresh after the server refuses.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createTokenClient, type TokenClient, type TokenClientError, type TokenClientOptions } from '../src/index.ts';
import { ENDPOINT, fakeFetchServer, tokenAnswer, type FakeFetchServer } from '@tessera/testkit/token-server';
import { flush } from './helpers/turns.ts';

const T0 = Date.UTC(2026, 0, 1);
const SCOPE = { scope: 'beta:domain' };

describe('token client cache', () => {
  let server: FakeFetchServer;
  let client: TokenClient | undefined;
  const start = (options: Partial<TokenClientOptions> = {}): TokenClient => {
    client = createTokenClient({ tokenEndpoint: ENDPOINT, credentials: { clientId: 'alpha.api', clientSecret: 's3cret' }, fetch: server.fetch, ...options });
    return client;
  };
  /** Moves the clock without running timers: only what the cache does on a call is seen. */
  const jumpTo = (ms: number): void => mock.timers.setTime(T0 + ms);
  const tickTo = async (ms: number): Promise<void> => {
    mock.timers.tick(T0 + ms - Date.now());
    await flush();
  };

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    server = fakeFetchServer();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    mock.restoreAll();
    mock.timers.reset();
  });

  describe('the 1/4 rule', () => {
    it('serves the cached token while at least a quarter of its life remains', async () => {
      const c = start();
      assert.equal(await c.getAccessToken(SCOPE), 'token-1');
      jumpTo(75_000); // 100 s token: exactly 25 s left
      assert.equal(await c.getAccessToken(SCOPE), 'token-1');
      assert.equal(server.requests.length, 1);
    });

    it('fetches a new token once less than a quarter of its life remains', async () => {
      const c = start();
      await c.getAccessToken(SCOPE);
      jumpTo(75_001);
      assert.equal(await c.getAccessToken(SCOPE), 'token-2');
      assert.equal(server.requests.length, 2);
    });

    it('measures the lifetime from when the request left, not from when the answer came', async () => {
      server.handler = async (request) => {
        mock.timers.setTime(Date.now() + 10_000); // the answer takes 10 s
        return tokenAnswer(request);
      };
      const c = start();
      await c.getAccessToken(SCOPE);
      jumpTo(75_000);
      assert.equal(await c.getAccessToken(SCOPE), 'token-1');
      jumpTo(75_001);
      assert.equal(await c.getAccessToken(SCOPE), 'token-2');
    });
  });

  describe('background refresh at half-life', () => {
    const refreshTimes: [number, number][] = [
      [0, 45_000],
      [0.5, 50_000],
      [0.999_999, 54_999.99],
    ];
    for (const [random, at] of refreshTimes) {
      it(`refreshes a token in use at ${at / 1000} s of 100 s when the jitter draw is ${random}`, async () => {
        mock.method(Math, 'random', () => random);
        const c = start();
        await c.getAccessToken(SCOPE);
        await tickTo(Math.ceil(at) - 1);
        assert.equal(server.requests.length, 1);
        await tickTo(Math.ceil(at));
        assert.equal(server.requests.length, 2);
        assert.equal(await c.getAccessToken(SCOPE), 'token-2');
        assert.equal(server.requests.length, 2, 'the refreshed token is served from the cache');
      });
    }

    it('spreads refreshes over 45–55 % of the lifetime (±10 % jitter around half-life)', async () => {
      const c = start();
      const scopes = Array.from({ length: 200 }, (_, i) => `d${i}:domain`);
      for (const scope of scopes) await c.getAccessToken({ scope });
      for (let second = 1; second <= 60; second++) await tickTo(second * 1000);
      const refreshes = server.requests.slice(scopes.length).map((request) => request.at - T0);
      assert.equal(refreshes.length, scopes.length);
      assert.ok(Math.min(...refreshes) >= 45_000, `earliest refresh at ${Math.min(...refreshes)} ms`);
      assert.ok(Math.max(...refreshes) <= 55_000, `latest refresh at ${Math.max(...refreshes)} ms`);
      assert.ok(Math.max(...refreshes) - Math.min(...refreshes) >= 5000, 'refreshes are spread, not synchronised');
    });

    it('keeps refreshing a token that is read, and lets one nobody reads expire', async () => {
      mock.method(Math, 'random', () => 0.5);
      const c = start();
      await c.getAccessToken(SCOPE);
      await tickTo(50_000); // refresh 1 (the first fetch counts as a read)
      assert.equal(server.requests.length, 2);
      assert.equal(await c.getAccessToken(SCOPE), 'token-2');
      await tickTo(100_000); // read since: refresh 2
      assert.equal(server.requests.length, 3);
      await tickTo(300_000); // never read since: no refresh, and the entry expires
      assert.equal(server.requests.length, 3);
      assert.equal(await c.getAccessToken(SCOPE), 'token-4');
    });

    it('refreshes an idle token in the background as soon as it is read again', async () => {
      mock.method(Math, 'random', () => 0.5);
      const c = start();
      await c.getAccessToken(SCOPE);
      await tickTo(50_000); // refresh 1: token-2, obtained at 50 s, stale at 125 s
      await tickTo(100_000); // not read since: no refresh
      assert.equal(server.requests.length, 2);
      jumpTo(120_000);
      assert.equal(await c.getAccessToken(SCOPE), 'token-2', 'served at once, not after the refresh');
      await flush();
      assert.equal(server.requests.length, 3);
      jumpTo(130_000);
      assert.equal(await c.getAccessToken(SCOPE), 'token-3');
      assert.equal(server.requests.length, 3);
    });
  });

  describe('single flight', () => {
    it('sends one request for 100 concurrent misses and gives everyone its token', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      server.handler = async (request) => {
        await gate;
        return tokenAnswer(request);
      };
      const c = start();
      const calls = Array.from({ length: 100 }, () => c.getAccessToken({ scope: 'beta:role.readers beta:role.writers' }));
      await flush();
      release();
      const tokens = await Promise.all(calls);
      assert.equal(server.requests.length, 1);
      assert.deepEqual(new Set(tokens), new Set(['token-1']));
    });

    it("shares one failure among concurrent misses, with the server's error details", async () => {
      server.handler = () => ({ status: 403, body: { error: 'access_denied', error_description: 'alpha.api holds no role in beta', error_code: 'AUTH_104' } });
      const c = start();
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.getAccessToken(SCOPE)));
      assert.equal(server.requests.length, 1);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        const error = (result as PromiseRejectedResult).reason as TokenClientError;
        assert.equal(error.code, 'ERR_TOKEN_REJECTED');
        assert.equal(error.status, 403);
        assert.equal(error.error, 'access_denied');
        assert.equal(error.errorCode, 'AUTH_104');
      }
    });

    it('treats reordered, repeated and short-form scope items as one cache entry', async () => {
      const c = start();
      const same = ['beta:role.readers gamma:write', 'gamma:write  beta:readers', 'beta:readers gamma:role.write beta:readers'];
      for (const scope of same) assert.equal(await c.getAccessToken({ scope }), 'token-1');
      assert.equal(await c.getAccessToken({ domain: 'beta', roles: ['readers', 'writers'] }), 'token-2');
      assert.equal(await c.getAccessToken({ scope: 'beta:role.writers beta:role.readers' }), 'token-2');
      assert.equal(await c.getAccessToken({ domain: 'beta' }), 'token-3');
      assert.equal(await c.getAccessToken({ domain: 'beta', expiresIn: 300 }), 'token-4');
      assert.equal(server.requests.length, 4);
      assert.equal(server.requests[0]!.form.get('scope'), 'beta:role.readers gamma:write');
      assert.equal(server.requests[1]!.form.get('scope'), 'beta:role.readers beta:role.writers');
      assert.equal(server.requests[3]!.form.get('expires_in'), '300');
    });
  });

  describe('stale-on-error', () => {
    it('serves the still-valid token when a foreground refresh fails, and the error once it expired', async () => {
      const c = start({ retry: { maxAttempts: 1 } });
      await c.getAccessToken(SCOPE);
      server.handler = () => ({ status: 503, body: { error: 'temporarily_unavailable', error_description: 'storage is down' } });
      jumpTo(80_000);
      assert.equal(await c.getAccessToken(SCOPE), 'token-1');
      jumpTo(100_001);
      await assert.rejects(c.getAccessToken(SCOPE), (error: TokenClientError) => {
        assert.equal(error.code, 'ERR_TOKEN_SERVER');
        assert.equal(error.status, 503);
        assert.equal(error.error, 'temporarily_unavailable');
        assert.match(error.message, /503 temporarily_unavailable: storage is down/);
        return true;
      });
    });

    it('keeps serving when a background refresh fails, reports it, and tries again before the token goes stale', async () => {
      mock.method(Math, 'random', () => 0.5);
      const errors: TokenClientError[] = [];
      const c = start({ retry: { maxAttempts: 1 }, onRefreshError: (error) => errors.push(error) });
      await c.getAccessToken(SCOPE);
      server.handler = () => new TypeError('fetch failed');
      await tickTo(50_000);
      assert.equal(server.requests.length, 2);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'ERR_TOKEN_NETWORK');
      assert.equal(await c.getAccessToken(SCOPE), 'token-1');
      server.handler = (request) => tokenAnswer(request);
      await tickTo(62_500); // halfway from the failure to the 75 s stale point
      assert.equal(server.requests.length, 3);
      jumpTo(80_000);
      assert.equal(await c.getAccessToken(SCOPE), 'token-3');
    });
  });

  describe('after the server refuses', () => {
    const refusals = [
      { status: 400, body: { error: 'invalid_scope', error_description: 'malformed scope item' } },
      { status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed', error_code: 'AUTH_101' } },
      { status: 403, body: { error: 'access_denied', error_description: 'caller IP not allowed', error_code: 'AUTH_104' } },
    ];
    for (const refusal of refusals) {
      it(`stops refreshing after a ${refusal.status} and surfaces ${refusal.body.error}`, async () => {
        mock.method(Math, 'random', () => 0.5);
        const errors: TokenClientError[] = [];
        const c = start({ onRefreshError: (error) => errors.push(error) });
        await c.getAccessToken(SCOPE);
        server.handler = () => refusal;
        await tickTo(50_000);
        assert.equal(server.requests.length, 2, 'a refusal is not retried');
        assert.equal(errors.length, 1);
        assert.equal(errors[0]!.code, 'ERR_TOKEN_REJECTED');
        assert.equal(errors[0]!.status, refusal.status);
        assert.equal(errors[0]!.error, refusal.body.error);
        assert.equal(errors[0]!.errorCode, refusal.body.error_code);
        assert.equal(await c.getAccessToken(SCOPE), 'token-1', 'the token is still fresh');
        for (let second = 51; second <= 400; second++) await tickTo(second * 1000);
        assert.equal(server.requests.length, 2, 'no background request after the refusal');
      });
    }

    it('answers calls within rejectionTtlMs with the refusal instead of asking again', async () => {
      server.handler = () => refusals[1]!;
      const c = start({ rejectionTtlMs: 10_000 });
      await assert.rejects(c.getAccessToken(SCOPE), { code: 'ERR_TOKEN_REJECTED', status: 401, errorCode: 'AUTH_101' });
      jumpTo(9_999);
      await assert.rejects(c.getAccessToken(SCOPE), { code: 'ERR_TOKEN_REJECTED', status: 401 });
      assert.equal(server.requests.length, 1);
      server.handler = (request) => tokenAnswer(request);
      jumpTo(10_001);
      assert.equal(await c.getAccessToken(SCOPE), 'token-2');
    });

    it('does not serve the old token after a refusal once it is stale', async () => {
      const c = start();
      await c.getAccessToken(SCOPE);
      server.handler = () => refusals[2]!;
      jumpTo(80_000);
      await assert.rejects(c.getAccessToken(SCOPE), (error: TokenClientError) => {
        assert.equal(error.status, 403);
        assert.equal(error.error, 'access_denied');
        assert.match(error.message, /refused \(403 access_denied AUTH_104: caller IP not allowed\); check that the service holds the requested roles/);
        return true;
      });
    });
  });

  describe('forced refresh', () => {
    it('fetches a new token even while the cached one is fresh', async () => {
      const c = start();
      await c.getAccessToken(SCOPE);
      assert.equal(await c.getAccessToken(SCOPE, { forceRefresh: true }), 'token-2');
      assert.equal(await c.getAccessToken(SCOPE), 'token-2');
    });

    it('returns the newer token without a request when the rejected one was already replaced', async () => {
      const c = start();
      await c.getAccessToken(SCOPE);
      assert.equal(await c.getAccessToken(SCOPE, { forceRefresh: true, rejectedToken: 'token-1' }), 'token-2');
      assert.equal(await c.getAccessToken(SCOPE, { forceRefresh: true, rejectedToken: 'token-1' }), 'token-2');
      assert.equal(server.requests.length, 2);
    });
  });

  describe('close()', () => {
    it('clears every timer, so nothing fires afterwards', async () => {
      const c = start();
      for (const scope of ['a:domain', 'b:domain', 'c:domain']) await c.getAccessToken({ scope });
      await c.close();
      await tickTo(1_000_000);
      assert.equal(server.requests.length, 3);
    });

    it('fails calls made after it, and calls waiting on a request, with ERR_CLIENT_CLOSED', async () => {
      server.handler = (request) => new Promise((resolve) => setImmediate(() => resolve(tokenAnswer(request))));
      const c = start();
      const waiting = c.getAccessToken(SCOPE);
      await c.close();
      await assert.rejects(waiting, { code: 'ERR_CLIENT_CLOSED' });
      await assert.rejects(c.getAccessToken(SCOPE), { code: 'ERR_CLIENT_CLOSED', message: 'the token client was closed' });
    });
  });
});

// The exchange client (client/exchange.ts): the exact RFC 8693 and proxy_for_principal requests,
// authenticated as the acting service; the cache rules (the 1/4 rule, background refresh past
// half-life, single flight, one entry per subject token and scope, refusals remembered); the
// errors of the token client; and bad arguments refused before any request.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createExchangeClient, createTokenClient, TokenClientError, type ExchangeClient, type ExchangeClientOptions } from '../src/index.ts';
import { ENDPOINT, fakeFetchServer, tokenAnswer, type FakeFetchServer } from '@tessera/testkit/token-server';
import { flush } from './helpers/turns.ts';

const T0 = Date.UTC(2026, 0, 1);
const BASIC = `Basic ${Buffer.from('edge.gw:gw-secret').toString('base64')}`;

describe('exchange client', () => {
  let server: FakeFetchServer;
  let client: ExchangeClient | undefined;
  const start = (options: Partial<ExchangeClientOptions> = {}): ExchangeClient => {
    client = createExchangeClient({
      tokenEndpoint: ENDPOINT,
      credentials: { clientId: 'edge.gw', clientSecret: 'gw-secret' },
      fetch: server.fetch,
      ...options,
    });
    return client;
  };
  const jumpTo = (ms: number): void => mock.timers.setTime(T0 + ms);

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    server = fakeFetchServer((request) => tokenAnswer(request, 100));
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    mock.restoreAll();
    mock.timers.reset();
  });

  it('exchange sends an RFC 8693 request authenticated as the acting service', async () => {
    const token = await start().exchange({ subjectToken: 'caller.jwt.sig', scope: 'orders:role.readers' });
    assert.equal(token, 'token-1');
    const [seen] = server.requests;
    assert.equal(seen!.method, 'POST');
    assert.equal(seen!.headers['authorization'], BASIC);
    assert.deepEqual(Object.fromEntries(seen!.form), {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'caller.jwt.sig',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'orders:role.readers',
    });
  });

  it('exchange of an ID token sends its type, and caches it apart from the same text as an access token', async () => {
    const c = start();
    assert.equal(await c.exchange({ subjectToken: 'caller.id.sig', subjectTokenType: 'id_token', scope: 'orders:role.readers' }), 'token-1');
    assert.equal(Object.fromEntries(server.requests[0]!.form)['subject_token_type'], 'urn:ietf:params:oauth:token-type:id_token');
    assert.equal(await c.exchange({ subjectToken: 'caller.id.sig', subjectTokenType: 'id_token', scope: 'orders:role.readers' }), 'token-1');
    assert.equal(await c.exchange({ subjectToken: 'caller.id.sig', scope: 'orders:role.readers' }), 'token-2');
    assert.equal(Object.fromEntries(server.requests[1]!.form)['subject_token_type'], 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(server.requests.length, 2);
    await assert.rejects(
      c.exchange({ subjectToken: 'a.b.c', subjectTokenType: 'saml2' as 'id_token', scope: 'orders:domain' }),
      /subjectTokenType must be 'access_token' or 'id_token', not "saml2"/,
    );
    assert.equal(server.requests.length, 2);
  });

  it('onBehalfOf sends client_credentials with proxy_for_principal', async () => {
    const token = await start().onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain', expiresIn: 600 });
    assert.equal(token, 'token-1');
    const [seen] = server.requests;
    assert.equal(seen!.headers['authorization'], BASIC);
    assert.deepEqual(Object.fromEntries(seen!.form), {
      grant_type: 'client_credentials',
      scope: 'orders:domain',
      proxy_for_principal: 'alpha.api',
      expires_in: '600',
    });
  });

  it('serves a cached token while a quarter of its life remains, refreshing it in the background past half-life', async () => {
    const c = start();
    const ask = (): Promise<string> => c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain' });
    assert.equal(await ask(), 'token-1');
    jumpTo(40_000);
    assert.equal(await ask(), 'token-1');
    assert.equal(server.requests.length, 1, 'no request before half-life');
    jumpTo(60_000);
    assert.equal(await ask(), 'token-1', 'past half-life the cached token is still served');
    await flush();
    assert.equal(server.requests.length, 2, 'and a refresh went out');
    assert.equal(await ask(), 'token-2');
  });

  it('does not serve a token with less than a quarter of its life left', async () => {
    const c = start();
    const ask = (): Promise<string> => c.exchange({ subjectToken: 'a.b.c', scope: 'orders:domain' });
    assert.equal(await ask(), 'token-1');
    jumpTo(76_000);
    assert.equal(await ask(), 'token-2');
    assert.equal(server.requests.length, 2);
  });

  it('maxReuseMs bounds how long a cached token is handed out; past it the call waits for a fresh one, and a refusal ends it', async () => {
    const c = start({ maxReuseMs: 10_000, retry: { maxAttempts: 1 } });
    const ask = (): Promise<string> => c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain' });
    assert.equal(await ask(), 'token-1');
    jumpTo(9_999);
    assert.equal(await ask(), 'token-1');
    assert.equal(server.requests.length, 1, 'no request within the bound');
    jumpTo(10_000);
    assert.deepEqual(new Set(await Promise.all([ask(), ask(), ask()])), new Set(['token-2']), 'past it, a fresh token');
    assert.equal(server.requests.length, 2, 'one request for the calls past the bound');
    // Unreachable when the bound is reached: no fresh judgement came, so the last one stands (the
    // token still valid), and it is asked again one bound later, not by every call meanwhile.
    server.handler = () => new Error('connect ECONNREFUSED');
    jumpTo(20_000);
    assert.equal(await ask(), 'token-2');
    const asked = server.requests.length;
    jumpTo(29_999);
    assert.equal(await ask(), 'token-2');
    assert.equal(server.requests.length, asked, 'no request within the next bound');
    jumpTo(30_000);
    assert.equal(await ask(), 'token-2');
    assert.equal(server.requests.length, asked + 1, 'asked again one bound later');
    // Refused (the caller left the role): refused.
    server.handler = () => ({ status: 403, body: { error: 'access_denied', error_description: 'alpha.api does not hold the role' } });
    jumpTo(40_000);
    await assert.rejects(ask(), (e: unknown) => e instanceof TokenClientError && e.status === 403);
    assert.throws(() => start({ maxReuseMs: -1 }), /maxReuseMs must be a number of milliseconds ≥ 0/);
  });

  it('shares one request among concurrent misses', async () => {
    const c = start();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => c.exchange({ subjectToken: 'a.b.c', scope: 'orders:domain' })));
    assert.deepEqual(new Set(tokens), new Set(['token-1']));
    assert.equal(server.requests.length, 1);
  });

  it('keeps subjects, subject tokens and scopes apart; equivalent scopes share an entry', async () => {
    const c = start();
    assert.equal(await c.exchange({ subjectToken: 'a.b.c', scope: 'orders:readers orders:writers' }), 'token-1');
    assert.equal(await c.exchange({ subjectToken: 'a.b.c', scope: 'orders:role.writers orders:role.readers' }), 'token-1');
    assert.equal(await c.exchange({ subjectToken: 'x.y.z', scope: 'orders:readers orders:writers' }), 'token-2');
    assert.equal(await c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain' }), 'token-3');
    assert.equal(await c.onBehalfOf({ principal: 'beta.api', scope: 'orders:domain' }), 'token-4');
    assert.equal(await c.onBehalfOf({ principal: 'alpha.api', scope: 'billing:domain' }), 'token-5');
    assert.equal(await c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain' }), 'token-3');
  });

  it("throws the server's refusal as a rejected TokenClientError and remembers it for rejectionTtlMs", async () => {
    server.handler = () => ({ status: 403, body: { error: 'access_denied', error_description: 'edge.gw is not an actor of orders:role.readers' } });
    const c = start({ rejectionTtlMs: 1000 });
    const ask = (): Promise<string> => c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:role.readers' });
    const error = await ask().catch((e: unknown) => e);
    assert.ok(error instanceof TokenClientError);
    assert.equal(error.code, 'ERR_TOKEN_REJECTED');
    assert.equal(error.status, 403);
    assert.equal(error.error, 'access_denied');
    await assert.rejects(ask(), TokenClientError);
    assert.equal(server.requests.length, 1, 'the refusal is answered from memory');
    jumpTo(1001);
    server.handler = (request) => tokenAnswer(request);
    assert.equal(await ask(), 'token-2');
  });

  it('retries a 503 and reports an unreachable server as ERR_TOKEN_NETWORK', async () => {
    mock.timers.reset();
    let calls = 0;
    server.handler = (request) => (++calls === 1 ? { status: 503 } : tokenAnswer(request));
    const c = start({ retry: { baseDelayMs: 1, maxAttempts: 2 } });
    assert.equal(await c.exchange({ subjectToken: 'a.b.c', scope: 'orders:domain' }), 'token-2');
    server.handler = () => new Error('connect ECONNREFUSED');
    const error = await c.exchange({ subjectToken: 'd.e.f', scope: 'orders:domain' }).catch((e: unknown) => e);
    assert.ok(error instanceof TokenClientError);
    assert.equal(error.code, 'ERR_TOKEN_NETWORK');
  });

  it("finds the token endpoint in the issuer's metadata, once", async () => {
    server.handler = (request) =>
      request.path === '/.well-known/oauth-authorization-server'
        ? { body: { issuer: 'https://tessera.test', token_endpoint: 'https://tessera.test/oauth2/token-here' } }
        : tokenAnswer(request);
    const c = start({ tokenEndpoint: undefined, issuer: 'https://tessera.test' });
    assert.equal(await c.exchange({ subjectToken: 'a.b.c', scope: 'orders:domain' }), 'token-2');
    assert.equal(await c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain' }), 'token-3');
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/.well-known/oauth-authorization-server', '/oauth2/token-here', '/oauth2/token-here'],
    );
  });

  it('refuses bad arguments before any request', async () => {
    const c = start();
    await assert.rejects(c.exchange({ subjectToken: '', scope: 'orders:domain' }), /subjectToken must be/);
    await assert.rejects(c.exchange({ subjectToken: 'a b', scope: 'orders:domain' }), /subjectToken must be/);
    await assert.rejects(c.exchange({ subjectToken: 'a.b.c', scope: ' ' }), /scope is empty/);
    await assert.rejects(c.onBehalfOf({ principal: 'alpha api', scope: 'orders:domain' }), /principal must be/);
    await assert.rejects(c.onBehalfOf({ principal: 'alpha.api', scope: 'orders:domain', expiresIn: -1 }), /expiresIn must be/);
    assert.equal(server.requests.length, 0);
    assert.throws(() => createExchangeClient({ credentials: { clientId: 'a.b', clientSecret: 's' } }), /exactly one of tokenEndpoint/);
  });

  it("the token client's onBehalfOf uses the same cache; forceRefresh replaces only the refused token", async () => {
    const tc = createTokenClient({ tokenEndpoint: ENDPOINT, credentials: { clientId: 'edge.gw', clientSecret: 'gw-secret' }, fetch: server.fetch });
    try {
      const ask = (options?: { forceRefresh: boolean; rejectedToken: string }): Promise<string> =>
        tc.getAccessToken({ scope: 'orders:readers', onBehalfOf: 'a.b.c' }, options);
      assert.equal(await ask(), 'token-1');
      assert.equal(server.requests[0]!.form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
      assert.equal(server.requests[0]!.form.get('scope'), 'orders:readers');
      assert.equal(await ask({ forceRefresh: true, rejectedToken: 'token-1' }), 'token-2');
      assert.equal(await ask({ forceRefresh: true, rejectedToken: 'token-1' }), 'token-2', 'refreshed meanwhile: no second request');
      assert.equal(await ask(), 'token-2');
      assert.equal(server.requests.length, 2);
    } finally {
      await tc.close();
    }
  });

  it('fails calls after close()', async () => {
    const c = start();
    await c.close();
    await assert.rejects(
      c.exchange({ subjectToken: 'a.b.c', scope: 'orders:domain' }),
      (e: unknown) => e instanceof TokenClientError && e.code === 'ERR_CLIENT_CLOSED',
    );
  });
});

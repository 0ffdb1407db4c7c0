// The authenticated fetch against a resource server on loopback that accepts only the tokens it
// is told to: the bearer header, one refresh and retry after `invalid_token`, and no retry where
// sending twice could do harm.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createAuthenticatedFetch, createTokenClient, type FetchFunction, type TokenClient, type TokenClientError } from '../src/index.ts';
import { saysInvalidToken } from '../src/fetch/authenticated-fetch.ts';
import { ENDPOINT, fakeFetchServer, startFakeHttpServer, type FakeFetchServer, type FakeHttpServer } from '@tessera/testkit/token-server';

const INVALID = { 'www-authenticate': 'Bearer realm="beta", error="invalid_token", error_description="signature verification failed"' };

describe('createAuthenticatedFetch', () => {
  let tokens: FakeFetchServer;
  let api: FakeHttpServer;
  let client: TokenClient;
  let accepted: Set<string>;
  let authedFetch: FetchFunction;
  const tokenRequests = (): number => tokens.requests.length;
  const bearerOf = (n: number): string | undefined => api.requests[n]!.headers['authorization'];

  beforeEach(async () => {
    tokens = fakeFetchServer();
    client = createTokenClient({ tokenEndpoint: ENDPOINT, credentials: { clientId: 'alpha.api', clientSecret: 's' }, fetch: tokens.fetch });
    accepted = new Set(['token-2', 'token-3']);
    api = await startFakeHttpServer((request) => {
      const token = request.headers['authorization']?.replace(/^Bearer /, '');
      if (token === undefined || !accepted.has(token)) return { status: 401, headers: INVALID, body: { error: 'invalid_token', error_code: 'AUTH_105' } };
      return { body: { method: request.method, body: request.form.toString() } };
    });
    authedFetch = createAuthenticatedFetch(client, { scope: 'beta:domain' });
  });
  afterEach(async () => {
    await client.close();
    await api.close();
  });

  it('adds Authorization: Bearer with a token for its scope and leaves the rest of the request alone', async () => {
    accepted.add('token-1');
    const res = await authedFetch(`${api.url}/items?x=1`, {
      method: 'POST',
      headers: { 'x-trace': 'abc', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { method: 'POST', body: 'a=1' });
    assert.equal(bearerOf(0), 'Bearer token-1');
    assert.equal(api.requests[0]!.url, '/items?x=1');
    assert.equal(api.requests[0]!.headers['x-trace'], 'abc');
    assert.equal(tokens.requests[0]!.form.get('scope'), 'beta:domain');
  });

  for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
    it(`refreshes the token once and retries a ${method} refused with invalid_token`, async () => {
      const body = method === 'PUT' ? 'name=new' : undefined;
      const res = await authedFetch(`${api.url}/items/1`, { method, body, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} });
      assert.equal(res.status, 200);
      assert.equal(api.requests.length, 2);
      assert.equal(bearerOf(0), 'Bearer token-1');
      assert.equal(bearerOf(1), 'Bearer token-2');
      assert.equal(tokenRequests(), 2, 'one refresh, bypassing the still-fresh cached token');
      if (body) assert.equal(api.requests[1]!.form.toString(), body, 'the body is sent again');
    });
  }

  for (const method of ['POST', 'PATCH']) {
    it(`returns the 401 of a ${method} without retrying it (not idempotent)`, async () => {
      const res = await authedFetch(`${api.url}/items`, { method, body: 'a=1' });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), INVALID['www-authenticate']);
      assert.deepEqual(await res.json(), { error: 'invalid_token', error_code: 'AUTH_105' });
      assert.equal(api.requests.length, 1);
      assert.equal(tokenRequests(), 1);
    });
  }

  it('retries a POST when retryNonIdempotent is set, body included', async () => {
    const retrying = createAuthenticatedFetch(client, { domain: 'beta', retryNonIdempotent: true });
    const res = await retrying(`${api.url}/items`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=2' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { method: 'POST', body: 'a=1&b=2' });
    assert.equal(api.requests.length, 2);
  });

  it('retries only once: a second refusal is returned as it is', async () => {
    accepted.clear();
    const res = await authedFetch(`${api.url}/items`);
    assert.equal(res.status, 401);
    assert.equal(api.requests.length, 2);
    assert.equal(tokenRequests(), 2);
  });

  const otherRefusals: [string, number, Record<string, string>][] = [
    ['a 401 without a challenge', 401, {}],
    ['a 401 whose Bearer challenge names no error', 401, { 'www-authenticate': 'Bearer realm="beta"' }],
    ['a 401 with a Basic challenge', 401, { 'www-authenticate': 'Basic realm="beta"' }],
    ['a 403 insufficient_scope', 403, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="beta:role.admin"' }],
  ];
  for (const [name, status, headers] of otherRefusals) {
    it(`does not retry ${name}`, async () => {
      api.handler = () => ({ status, headers, body: { error: 'no' } });
      const res = await authedFetch(`${api.url}/items`);
      assert.equal(res.status, status);
      assert.equal(api.requests.length, 1);
      assert.equal(tokenRequests(), 1);
    });
  }

  it('refreshes once for many requests refused with the same token at the same time', async () => {
    const responses = await Promise.all(Array.from({ length: 10 }, () => authedFetch(`${api.url}/items`)));
    assert.deepEqual(
      responses.map((res) => res.status),
      Array(10).fill(200),
    );
    assert.equal(tokenRequests(), 2);
    const used = api.requests.map((request) => request.headers['authorization']);
    assert.equal(used.filter((bearer) => bearer === 'Bearer token-1').length, 10);
    assert.equal(used.filter((bearer) => bearer === 'Bearer token-2').length, 10);
  });

  it('accepts a Request or a URL as input', async () => {
    accepted.add('token-1');
    const fromRequest = await authedFetch(new Request(`${api.url}/a`, { method: 'DELETE' }));
    const fromUrl = await authedFetch(new URL(`${api.url}/b`));
    assert.deepEqual([fromRequest.status, fromUrl.status], [200, 200]);
    assert.deepEqual(
      api.requests.map((request) => `${request.method} ${request.url} ${request.headers['authorization']}`),
      ['DELETE /a Bearer token-1', 'GET /b Bearer token-1'],
    );
  });

  it('sends through the fetch it is given', async () => {
    const seen: string[] = [];
    const wrapped = createAuthenticatedFetch(client, {
      scope: 'beta:domain',
      fetch: async (input, init) => {
        const request = new Request(input, init);
        seen.push(`${request.method} ${request.url} ${request.headers.get('authorization')}`);
        return new Response('ok');
      },
    });
    assert.equal(await (await wrapped('https://beta.test/x')).text(), 'ok');
    assert.deepEqual(seen, ['GET https://beta.test/x Bearer token-1']);
  });

  it("rejects with the token client's error when no token can be had, sending nothing", async () => {
    tokens.handler = () => ({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed', error_code: 'AUTH_101' } });
    await assert.rejects(authedFetch(`${api.url}/items`), (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_REJECTED');
      assert.equal(error.status, 401);
      assert.equal(error.errorCode, 'AUTH_101');
      return true;
    });
    assert.equal(api.requests.length, 0);
  });

  it('refuses bad arguments with a TypeError saying what to fix', () => {
    assert.throws(() => createAuthenticatedFetch({} as TokenClient, { scope: 'beta:domain' }), /needs a token client \(from createTokenClient\)/);
    assert.throws(() => createAuthenticatedFetch(client, { scope: '' }), /scope is empty/);
    assert.throws(() => createAuthenticatedFetch(client, undefined as never), /needs \{ scope \} or \{ domain, roles\? \}/);
  });
});

describe('saysInvalidToken', () => {
  const cases: [string | null, boolean][] = [
    ['Bearer error="invalid_token"', true],
    ['Bearer realm="x", error="invalid_token", error_description="expired"', true],
    ['bearer error=invalid_token', true],
    ['Basic realm="x", Bearer error="invalid_token"', true],
    ['Bearer error="insufficient_scope"', false],
    ['Bearer error="invalid_token_x"', false],
    ['Basic realm="invalid_token"', false],
    ['', false],
    [null, false],
  ];
  for (const [header, expected] of cases) {
    it(`reads ${JSON.stringify(header)} as ${expected ? '' : 'not '}invalid_token`, () => {
      assert.equal(saysInvalidToken(header), expected);
    });
  }
});

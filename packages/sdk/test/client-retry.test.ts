// Retries of one token request: which answers are retried, exponential backoff with jitter,
// Retry-After, and the bounds on attempts and total time. Time is driven by mock timers.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createTokenClient, type TokenClient, type TokenClientError, type TokenClientOptions } from '../src/index.ts';
import { ENDPOINT, fakeFetchServer, tokenAnswer, type FakeAnswer, type FakeFetchServer } from '@tessera/testkit/token-server';
import { flush } from './helpers/turns.ts';

const T0 = Date.UTC(2026, 0, 1);
const SCOPE = { scope: 'beta:domain' };

describe('token request retries', () => {
  let server: FakeFetchServer;
  let client: TokenClient | undefined;
  const start = (options: Partial<TokenClientOptions> = {}): TokenClient => {
    client = createTokenClient({ tokenEndpoint: ENDPOINT, credentials: { clientId: 'alpha.api', clientSecret: 's3cret' }, fetch: server.fetch, ...options });
    return client;
  };
  /** Answers from the list in turn, then tokens. */
  const answers = (...list: (FakeAnswer | Error)[]): void => {
    server.handler = (request) => list[request.n - 1] ?? tokenAnswer(request);
  };
  const advance = async (ms: number): Promise<void> => {
    mock.timers.tick(ms);
    await flush();
  };
  const elapsed = (): number[] => server.requests.map((request) => request.at - T0);

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

  it('waits exactly as long as Retry-After (seconds) says before trying again', async () => {
    answers({ status: 429, headers: { 'retry-after': '7' }, body: { error: 'rate_limited', error_code: 'AUTH_106' } });
    const pending = start().getAccessToken(SCOPE);
    await flush();
    await advance(6_999);
    assert.equal(server.requests.length, 1);
    await advance(1);
    assert.equal(server.requests.length, 2);
    assert.equal(await pending, 'token-2');
  });

  it('honours Retry-After given as an HTTP date', async () => {
    answers({ status: 503, headers: { 'retry-after': new Date(T0 + 3_000).toUTCString() } });
    const pending = start().getAccessToken(SCOPE);
    await flush();
    await advance(2_999);
    assert.equal(server.requests.length, 1);
    await advance(1);
    assert.equal(await pending, 'token-2');
  });

  it('gives up at once when Retry-After reaches past the time budget, and says how long to wait', async () => {
    answers({
      status: 429,
      headers: { 'retry-after': '60' },
      body: { error: 'rate_limited', error_description: 'too many requests for alpha.api', error_code: 'AUTH_106' },
    });
    await assert.rejects(start({ retry: { maxTotalMs: 15_000 } }).getAccessToken(SCOPE), (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_RATE_LIMITED');
      assert.equal(error.status, 429);
      assert.equal(error.errorCode, 'AUTH_106');
      assert.equal(error.retryAfter, 60);
      assert.equal(error.attempts, 1);
      assert.match(error.message, /failed after 1 attempt\(s\) \(429 rate_limited AUTH_106: too many requests for alpha\.api\)/);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  it('retries 5xx with exponential backoff and stops after maxAttempts', async () => {
    mock.method(Math, 'random', () => 0.999_999); // the top of the jitter range: the full doubled delay
    server.handler = () => ({ status: 502, body: 'Bad Gateway' });
    const pending = start({ retry: { maxAttempts: 4, baseDelayMs: 200, maxTotalMs: 60_000 } }).getAccessToken(SCOPE);
    const outcome = assert.rejects(pending, (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_SERVER');
      assert.equal(error.status, 502);
      assert.equal(error.attempts, 4);
      return true;
    });
    await flush();
    for (let i = 0; i < 20; i++) await advance(100);
    await outcome;
    assert.deepEqual(elapsed(), [0, 200, 600, 1400]);
  });

  it('keeps every backoff delay within 50–100 % of the doubled delay (jitter)', async () => {
    mock.method(Math, 'random', () => 0);
    server.handler = () => ({ status: 500 });
    const pending = start({ retry: { maxAttempts: 4, baseDelayMs: 200, maxTotalMs: 60_000 } }).getAccessToken(SCOPE);
    const outcome = assert.rejects(pending, { code: 'ERR_TOKEN_SERVER' });
    await flush();
    for (let i = 0; i < 20; i++) await advance(50);
    await outcome;
    assert.deepEqual(elapsed(), [0, 100, 300, 700]);
  });

  it('caps one backoff delay at maxDelayMs', async () => {
    mock.method(Math, 'random', () => 0.999_999);
    server.handler = () => ({ status: 500 });
    const pending = start({ retry: { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 1500, maxTotalMs: 60_000 } }).getAccessToken(SCOPE);
    const outcome = assert.rejects(pending, { code: 'ERR_TOKEN_SERVER' });
    await flush();
    for (let i = 0; i < 60; i++) await advance(100);
    await outcome;
    assert.deepEqual(elapsed(), [0, 1000, 2500, 4000, 5500]);
  });

  it('stops when the next wait would pass maxTotalMs', async () => {
    mock.method(Math, 'random', () => 0.999_999);
    server.handler = () => ({ status: 500 });
    const pending = start({ retry: { maxAttempts: 10, baseDelayMs: 400, maxTotalMs: 2_000 } }).getAccessToken(SCOPE);
    const outcome = assert.rejects(pending, { code: 'ERR_TOKEN_SERVER', attempts: 3 });
    await flush();
    for (let i = 0; i < 40; i++) await advance(100);
    await outcome;
    assert.deepEqual(elapsed(), [0, 400, 1200]);
  });

  it('retries network errors and reports ERR_TOKEN_NETWORK when they persist', async () => {
    server.handler = () => new TypeError('fetch failed');
    const pending = start({ retry: { maxAttempts: 3 } }).getAccessToken(SCOPE);
    const outcome = assert.rejects(pending, (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_NETWORK');
      assert.equal(error.status, undefined);
      assert.equal(error.attempts, 3);
      assert.match(error.message, /failed after 3 attempt\(s\): no answer \(fetch failed\)/);
      return true;
    });
    for (let i = 0; i < 20; i++) await advance(100);
    await outcome;
  });

  it('recovers when a retry succeeds', async () => {
    answers(new TypeError('fetch failed'), { status: 503 }, { status: 408 });
    const pending = start().getAccessToken(SCOPE);
    for (let i = 0; i < 20; i++) await advance(100);
    assert.equal(await pending, 'token-4');
  });

  for (const status of [400, 401, 403, 404]) {
    it(`does not retry a ${status}`, async () => {
      server.handler = () => ({ status, body: { error: 'invalid_request', error_description: 'no' } });
      await assert.rejects(start().getAccessToken(SCOPE), { code: 'ERR_TOKEN_REJECTED', status, attempts: 1 });
      assert.equal(server.requests.length, 1);
    });
  }

  it('rejects a 200 that is not a token response, naming what is wrong', async () => {
    const bad: [unknown, RegExp][] = [
      ['<html>', /is not JSON/],
      [{ token_type: 'Bearer', expires_in: 60 }, /access_token is missing/],
      [{ access_token: 'x', token_type: 'DPoP', expires_in: 60 }, /token_type is "DPoP", not "Bearer"/],
      [{ access_token: 'x', token_type: 'Bearer', expires_in: -5 }, /expires_in is not a positive number/],
    ];
    for (const [body, message] of bad) {
      server.handler = () => ({ body });
      const c = start();
      await assert.rejects(c.getAccessToken(SCOPE), (error: TokenClientError) => {
        assert.equal(error.code, 'ERR_TOKEN_RESPONSE_INVALID');
        assert.match(error.message, message);
        return true;
      });
      await c.close();
    }
  });
});

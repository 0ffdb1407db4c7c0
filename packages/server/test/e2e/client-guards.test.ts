// Introspection and revocation over real HTTPS pass the token endpoint's guards: the address
// limit before authentication and the client limit after it (one budget across the three
// endpoints), the auth-failure alerts, the metrics and the audit. Clocks are frozen, so the
// buckets never refill during a test and the counts are exact.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import type { TestResponse } from '@tessera/testkit/https';

const form = 'application/x-www-form-urlencoded';

function post(t: TestServer, path: string, clientId: string, secret: string, params: Record<string, string>): Promise<TestResponse> {
  return t.send(path, {
    method: 'POST',
    headers: { 'content-type': form, authorization: basic(clientId, secret) },
    body: new URLSearchParams(params).toString(),
  });
}

/** `count` requests, `parallel` at a time; the statuses and error codes seen, in order. */
async function flood(count: number, parallel: number, one: (i: number) => Promise<TestResponse>): Promise<TestResponse[]> {
  const answers: TestResponse[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, i) => one(start + i));
    answers.push(...(await Promise.all(batch)));
  }
  return answers;
}

async function registerClient(t: TestServer, adminToken: string, name: string): Promise<string> {
  const res = await t.admin$('POST', '/domains/alpha/services', { name }, adminToken);
  assert.equal(res.status, 201, res.text);
  return res.json.clientSecret as string;
}

describe('introspection and revocation against a stranger guessing secrets (default limits)', () => {
  let t: TestServer;
  let adminToken: string;
  const clock = Date.now();
  before(async () => {
    t = await startTestServer({ now: () => clock });
    adminToken = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, adminToken)).status, 201);
    await registerClient(t, adminToken, 'rs');
  });
  after(() => t.stop());

  it('1,500 wrong secrets at /oauth2/introspect: 429 AUTH_106 once the address burst is spent, and an alert', async () => {
    const answers = await flood(1500, 25, (i) => post(t, '/oauth2/introspect', 'alpha.rs', `guess-${i}`, { token: 'x' }));
    const codes = answers.map((res) => `${res.status} ${res.json?.error_code}`);
    const counts = Object.fromEntries([...new Set(codes)].map((code) => [code, codes.filter((c) => c === code).length]));
    // The address bucket holds 400 (rateLimits.ip.burst), the admin's token request spent one,
    // and the frozen clock never refills it.
    assert.deepEqual(counts, { '401 AUTH_101': 399, '429 AUTH_106': 1101 });
    const limited = answers.find((res) => res.status === 429)!;
    assert.ok(Number(limited.headers['retry-after']) >= 1, 'a 429 says when to come back');
    assert.equal(limited.json.error, 'rate_limited');

    await t.server.flushAudit();
    const alerts = await t.admin$('GET', '/audit?type=alert.auth-failures', undefined, adminToken);
    assert.equal(alerts.status, 200, alerts.text);
    assert.deepEqual(alerts.json.events.map((e: { target: string; after: { count: number } }) => [e.target, e.after.count]).sort(), [
      ['alpha.rs', 10],
      ['ip:127.0.0.1', 10],
    ]);
    // Refused before authentication: summed up in two rows, not 1,500.
    const summaries = await t.admin$('GET', '/audit?type=token.refused.summary', undefined, adminToken);
    assert.deepEqual(summaries.json.events.map((e: { after: Record<string, unknown> }) => [e.after['endpoint'], e.after['result'], e.after['count']]).sort(), [
      ['introspect', 'AUTH_101', 399],
      ['introspect', 'AUTH_106', 1101],
    ]);
    assert.equal((await t.admin$('GET', '/audit?type=introspect.refused', undefined, adminToken)).json.events.length, 0);
    const metrics = (await t.send('/metrics')).text;
    assert.match(metrics, /^tessera_client_requests_total\{endpoint="introspect",result="AUTH_101"\} 399$/m);
    assert.match(metrics, /^tessera_client_requests_total\{endpoint="introspect",result="AUTH_106"\} 1101$/m);
    assert.match(metrics, /^tessera_token_rate_limited_total\{limit="ip"\} 1101$/m);
  });

  it('the address budget is one across endpoints: /oauth2/revoke and /oauth2/token are refused 429 too', async () => {
    for (const path of ['/oauth2/revoke', '/oauth2/token']) {
      const res = await post(t, path, 'alpha.rs', 'another-guess', { token: 'x', grant_type: 'client_credentials' });
      assert.equal(res.status, 429, `${path}: ${res.text}`);
      assert.equal(res.json.error_code, 'AUTH_106');
    }
  });
});

describe('introspection and revocation of a proven client over its limit', () => {
  let t: TestServer;
  let adminToken: string;
  let secret: string;
  let offSecret: string;
  const clock = Date.now();
  before(async () => {
    t = await startTestServer({ now: () => clock, env: { TESSERA_RATE_LIMIT_CLIENT: '1', TESSERA_RATE_LIMIT_CLIENT_BURST: '2' } });
    adminToken = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, adminToken)).status, 201);
    secret = await registerClient(t, adminToken, 'rs');
    offSecret = await registerClient(t, adminToken, 'off');
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' }, adminToken)).status, 200);
  });
  after(() => t.stop());

  it('answers 429 AUTH_106 once the client spent its introspection burst; revocation has a budget of its own', async () => {
    assert.equal((await post(t, '/oauth2/introspect', 'alpha.rs', secret, { token: 'x' })).status, 200);
    assert.equal((await post(t, '/oauth2/introspect', 'alpha.rs', secret, { token: 'x' })).status, 200);
    const third = await post(t, '/oauth2/introspect', 'alpha.rs', secret, { token: 'x' });
    assert.equal(third.status, 429, third.text);
    assert.equal(third.json.error_code, 'AUTH_106');
    assert.match(third.json.error_description, /introspect requests of client 'alpha\.rs'/);
    assert.equal((await post(t, '/oauth2/revoke', 'alpha.rs', secret, { token: 'x' })).status, 200);
    const metrics = (await t.send('/metrics')).text;
    assert.match(metrics, /^tessera_token_rate_limited_total\{limit="client"\} 1$/m);
    assert.match(metrics, /^tessera_client_requests_total\{endpoint="revoke",result="revoked"\} 1$/m);
  });

  it('audits a refusal after authentication as one event naming the endpoint and the principal', async () => {
    const refused = await post(t, '/oauth2/introspect', 'alpha.off', offSecret, { token: 'x' });
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.error_code, 'AUTH_103');
    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?type=introspect.refused', undefined, adminToken);
    assert.equal(res.status, 200, res.text);
    const events = res.json.events as { actor: string; after: Record<string, unknown> }[];
    assert.deepEqual(events.map((e) => [e.actor, e.after['result'], e.after['status'], e.after['method']]).sort(), [
      ['alpha.off', 'AUTH_103', 401, 'client_secret_basic'],
      ['alpha.rs', 'AUTH_106', 429, 'client_secret_basic'],
    ]);
  });
});

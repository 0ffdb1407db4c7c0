// Every token endpoint error of docs/errors.md, each with status, `error` and
// `error_code`, and `Cache-Control: no-store` on every answer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import type { TestResponse } from '@tessera/testkit/https';

const form = 'application/x-www-form-urlencoded';

function assertError(res: TestResponse, status: number, error: string, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(res.json.error_code, code, res.text);
  assert.equal(typeof res.json.error_description, 'string');
  assert.ok(res.json.error_description.length > 10, 'the description says what to fix');
  assert.equal(res.headers['cache-control'], 'no-store');
}

describe('token endpoint errors', () => {
  let t: TestServer;
  const secrets: Record<string, string> = {};
  const ok = { grant_type: 'client_credentials', scope: 'beta:domain' };
  const post = (body: string, headers: Record<string, string> = {}): Promise<TestResponse> =>
    t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': form, ...headers }, body });

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta']) await t.admin$('POST', '/domains', { name });
    const services: [string, Record<string, unknown>][] = [
      ['api', {}],
      ['off', {}],
      ['old', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
      ['fenced', { allowedIps: ['10.0.0.0/8', '2001:db8::/32'] }],
      ['local', { allowedIps: ['127.0.0.0/8'] }],
      ['local6', { allowedIps: ['::1/128', '192.0.2.0/24'] }],
      ['norole', {}],
    ];
    for (const [name, extra] of services) {
      const res = await t.admin$('POST', '/domains/alpha/services', { name, ...extra });
      assert.equal(res.status, 201, res.text);
      secrets[name] = res.json.clientSecret;
    }
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
    const members = ['api', 'off', 'old', 'fenced', 'local', 'local6'].map((s) => ({ principal: `alpha.${s}` }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
  });
  after(() => t.stop());

  it('AUTH_101: a wrong secret is 401 invalid_client with a Basic challenge', async () => {
    const res = await t.token('alpha.api', 'not-the-secret', ok);
    assertError(res, 401, 'invalid_client', 'AUTH_101');
    assert.match(String(res.headers['www-authenticate']), /^Basic realm=/);
  });

  it('AUTH_101: an unknown client gets the very same answer as a wrong secret', async () => {
    const unknown = await t.token('alpha.nobody', 'whatever', ok);
    const wrong = await t.token('alpha.api', 'whatever', ok);
    assertError(unknown, 401, 'invalid_client', 'AUTH_101');
    assert.deepEqual(unknown.json, wrong.json);
  });

  it('AUTH_101: client_secret_post with a wrong secret has no Basic challenge', async () => {
    const res = await post(new URLSearchParams({ ...ok, client_id: 'alpha.api', client_secret: 'nope' }).toString());
    assertError(res, 401, 'invalid_client', 'AUTH_101');
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('AUTH_101: no credentials at all', async () => {
    assertError(await post(new URLSearchParams(ok).toString()), 401, 'invalid_client', 'AUTH_101');
  });

  it('AUTH_103: a disabled service', async () => {
    const res = await t.token('alpha.off', secrets['off']!, ok);
    assertError(res, 401, 'invalid_client', 'AUTH_103');
    assert.match(res.json.error_description, /disabled/);
  });

  it('AUTH_103: an expired service', async () => {
    const res = await t.token('alpha.old', secrets['old']!, ok);
    assertError(res, 401, 'invalid_client', 'AUTH_103');
    assert.match(res.json.error_description, /expired/);
  });

  it('AUTH_104: a caller outside allowedIps (IPv4 and IPv6 ranges) is 403', async () => {
    assertError(await t.token('alpha.fenced', secrets['fenced']!, ok), 403, 'access_denied', 'AUTH_104');
  });

  it('AUTH_104 passes callers inside allowedIps', async () => {
    assert.equal((await t.token('alpha.local', secrets['local']!, ok)).status, 200);
  });

  it('400 invalid_scope for a malformed scope', async () => {
    for (const scope of ['beta', 'beta:', ':domain', 'Beta:domain', 'beta:role.', 'beta:service.x', 'openid beta:domain']) {
      assertError(await t.token('alpha.api', secrets['api']!, { grant_type: 'client_credentials', scope }), 400, 'invalid_scope');
    }
  });

  it('400 invalid_scope when scope is missing', async () => {
    assertError(await t.token('alpha.api', secrets['api']!, { grant_type: 'client_credentials' }), 400, 'invalid_scope');
  });

  it('404 for an unknown domain', async () => {
    const res = await t.token('alpha.api', secrets['api']!, { grant_type: 'client_credentials', scope: 'gamma:domain' });
    assertError(res, 404, 'invalid_scope');
    assert.match(res.json.error_description, /gamma/);
  });

  it('403 when the caller holds none of the requested roles', async () => {
    assertError(await t.token('alpha.norole', secrets['norole']!, ok), 403, 'access_denied');
  });

  it('400 for a missing or unsupported grant_type', async () => {
    assertError(await t.token('alpha.api', secrets['api']!, { scope: 'beta:domain' }), 400, 'invalid_request');
    assertError(await t.token('alpha.api', secrets['api']!, { grant_type: 'password', scope: 'beta:domain' }), 400, 'unsupported_grant_type');
  });

  it('400 for a bad expires_in', async () => {
    for (const expires_in of ['-5', '0', 'soon', '1.5']) {
      assertError(await t.token('alpha.api', secrets['api']!, { ...ok, expires_in }), 400, 'invalid_request');
    }
  });

  it('400 when a parameter is repeated (RFC 6749 §3.2)', async () => {
    const res = await post('grant_type=client_credentials&scope=beta:domain&scope=alpha:domain', { authorization: basic('alpha.api', secrets['api']!) });
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.error_description, /repeated/);
  });

  it('400 when Basic and post credentials come together', async () => {
    const body = new URLSearchParams({ ...ok, client_id: 'alpha.api', client_secret: secrets['api']! }).toString();
    const res = await post(body, { authorization: basic('alpha.api', secrets['api']!) });
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.error_description, /exactly one/);
  });

  it('400 for a body that is not form-encoded', async () => {
    for (const [type, body] of [
      ['application/json', JSON.stringify(ok)],
      ['text/plain', 'grant_type=client_credentials'],
    ] as const) {
      const res = await t.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': type, authorization: basic('alpha.api', secrets['api']!) },
        body,
      });
      assertError(res, 400, 'invalid_request');
    }
  });

  it('413 for an oversized body', async () => {
    const res = await post(`grant_type=client_credentials&scope=${'a'.repeat(200_000)}`);
    assert.equal(res.status, 413);
    assert.equal(res.json.error, 'invalid_request');
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('parameters named like Object.prototype members are just parameters', async () => {
    const res = await post('__proto__=x&constructor=y&grant_type=client_credentials&scope=beta:domain', { authorization: basic('alpha.api', secrets['api']!) });
    assert.equal(res.status, 200, res.text);
  });
});

describe('allowedIps over IPv6', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ host: '[::1]' });
    await t.admin$('POST', '/domains', { name: 'alpha' });
  });
  after(() => t.stop());

  it('lets a ::1 caller in through ::1/128 and keeps it out of 2001:db8::/32 with AUTH_104', async () => {
    const inside = await t.admin$('POST', '/domains/alpha/services', { name: 'in6', allowedIps: ['::1/128'] });
    const outside = await t.admin$('POST', '/domains/alpha/services', { name: 'out6', allowedIps: ['2001:db8::/32'] });
    await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.in6' }, { principal: 'alpha.out6' }] });
    const scope = { grant_type: 'client_credentials', scope: 'alpha:domain' };
    assert.equal((await t.token('alpha.in6', inside.json.clientSecret, scope)).status, 200);
    assertError(await t.token('alpha.out6', outside.json.clientSecret, scope), 403, 'access_denied', 'AUTH_104');
  });
});

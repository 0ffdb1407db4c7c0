// Introspection (RFC 7662) and revocation (RFC 7009) of access tokens over real HTTPS, with a
// clock the tests move. API keys through the same endpoints are in api-keys.test.ts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';

const FORM = 'application/x-www-form-urlencoded';

interface Client {
  id: string;
  secret: string;
}

function assertOAuthError(res: TestResponse, status: number, error: string, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(typeof res.json.error_description, 'string', res.text);
  assert.ok(res.json.error_description.length > 10, res.text);
  if (code) assert.equal(res.json.error_code, code, res.text);
  assert.equal(res.headers['cache-control'], 'no-store');
}

describe('introspection and revocation of access tokens', () => {
  let t: TestServer;
  let clock = Date.now();
  let api: Client;
  let rs: Client;
  let other: Client;

  const post = (path: string, params: Record<string, string> | string, as: Client | null = rs, headers: Record<string, string> = {}): Promise<TestResponse> =>
    t.send(path, {
      method: 'POST',
      headers: { 'content-type': FORM, ...(as ? { authorization: basic(as.id, as.secret) } : {}), ...headers },
      body: typeof params === 'string' ? params : new URLSearchParams(params).toString(),
    });
  const introspect = (token: string, as: Client | null = rs): Promise<TestResponse> => post('/oauth2/introspect', { token }, as);
  const revoke = (token: string, as: Client | null): Promise<TestResponse> => post('/oauth2/revoke', { token }, as);
  const active = async (token: string): Promise<boolean> => {
    const res = await introspect(token);
    assert.equal(res.status, 200, res.text);
    return res.json.active as boolean;
  };
  const assertInactive = async (token: string): Promise<void> => {
    const res = await introspect(token);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { active: false }, 'an inactive token gets no other member, and no reason');
  };
  const tokenFor = async (client: Client, scope: string): Promise<string> => {
    const res = await t.token(client.id, client.secret, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const register = async (domain: string, name: string): Promise<Client> => {
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return { id: `${domain}.${name}`, secret: res.json.clientSecret as string };
  };

  before(async () => {
    t = await startTestServer({ now: () => clock });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    api = await register('alpha', 'api');
    rs = await register('beta', 'rs');
    other = await register('alpha', 'other');
    for (const role of ['readers', 'writers']) {
      await t.admin$('PUT', `/domains/beta/roles/${role}`, { members: [{ principal: 'alpha.api' }, { principal: 'alpha.other' }] });
    }
    await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.api' }] });
  });
  after(() => t.stop());

  it('answers an active access token with its claims (RFC 7662 §2.2)', async () => {
    const token = await tokenFor(api, 'beta:domain');
    const res = await introspect(token);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.json.client_id, 'alpha.api');
    assert.equal(res.json.sub, 'alpha.api');
    assert.equal(res.json.uid, 'alpha.api');
    assert.equal(res.json.aud, 'beta');
    assert.equal(res.json.iss, t.url);
    assert.equal(res.json.ver, 1);
    assert.deepEqual(res.json.scp, ['readers', 'writers']);
    assert.equal(res.json.scope, 'beta:role.readers beta:role.writers');
    for (const name of ['exp', 'iat', 'nbf']) assert.ok(Number.isInteger(res.json[name]), name);
    assert.equal(typeof res.json.jti, 'string');
    assert.deepEqual(res.json, { ...decodeJwt(token), active: true, token_type: 'Bearer' });
  });

  it('keeps an audience array for a token covering several domains', async () => {
    const token = await tokenFor(api, 'alpha:domain beta:role.readers');
    const res = await introspect(token);
    assert.equal(res.json.active, true, res.text);
    assert.deepEqual(res.json.aud, decodeJwt(token).aud);
    assert.equal(Array.isArray(res.json.aud), true);
    assert.deepEqual(res.json.scp, ['alpha:users', 'beta:readers']);
  });

  it('accepts client_secret_post callers and ignores token_type_hint', async () => {
    const token = await tokenFor(api, 'beta:domain');
    for (const hint of ['access_token', 'refresh_token', 'something_else']) {
      const res = await post('/oauth2/introspect', { token, token_type_hint: hint, client_id: rs.id, client_secret: rs.secret }, null);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.active, true, hint);
    }
  });

  it('a token revoked by its own client is inactive at once; revoking again answers 200', async () => {
    const token = await tokenFor(api, 'beta:domain');
    assert.equal(await active(token), true);
    const res = await revoke(token, api);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '');
    assert.equal(res.headers['cache-control'], 'no-store');
    await assertInactive(token);
    assert.equal((await revoke(token, api)).status, 200);
    // Another token of the same client is untouched.
    assert.equal(await active(await tokenFor(api, 'beta:domain')), true);

    const audit = await t.admin$('GET', `/audit?type=token.revoke&principal=alpha.api`);
    assert.equal(audit.status, 200, audit.text);
    const events = audit.json.events.filter((e: { after: { jti?: string } }) => e.after?.jti === decodeJwt(token).jti);
    assert.equal(events.length, 1, 'one event, even after two revocations');
    assert.equal(events[0].actor, 'alpha.api');
    assert.ok(!audit.text.includes(token), 'the audit never holds the token');
  });

  it("revoking another client's token answers 200 and leaves it active", async () => {
    const token = await tokenFor(api, 'beta:domain');
    const res = await revoke(token, other);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '');
    assert.equal(await active(token), true);
    assert.equal((await revoke(token, rs)).status, 200);
    assert.equal(await active(token), true);
  });

  it('revoking an unknown, malformed or foreign token answers an empty 200', async () => {
    const forged = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{"sub":"alpha.api","jti":"x"}').toString('base64url')}.`;
    for (const token of ['nonsense', 'a.b.c', forged, `tsk_${'0'.repeat(16)}_${'A'.repeat(43)}000000`]) {
      const res = await revoke(token, api);
      assert.equal(res.status, 200, `${token}: ${res.text}`);
      assert.equal(res.text, '');
    }
  });

  it('tokens of a disabled service are inactive, and active again once it is enabled', async () => {
    const token = await tokenFor(other, 'beta:domain');
    assert.equal(await active(token), true);
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/other', { status: 'DISABLED' })).status, 200);
    await assertInactive(token);
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/other', { status: 'ACTIVE' })).status, 200);
    assert.equal(await active(token), true);
  });

  it('tokens of an expired service are inactive', async () => {
    const temp = await register('alpha', 'shortlived');
    await t.admin$('PUT', '/domains/beta/roles/readers/members/alpha.shortlived', {});
    const token = await tokenFor(temp, 'beta:domain');
    assert.equal(await active(token), true);
    const patched = await t.admin$('PATCH', '/domains/alpha/services/shortlived', { expiresAt: new Date(clock - 1000).toISOString() });
    assert.equal(patched.status, 200, patched.text);
    await assertInactive(token);
  });

  it('tokens of a deleted service are inactive, also after a service of the same name is registered again', async () => {
    const temp = await register('alpha', 'gone');
    await t.admin$('PUT', '/domains/beta/roles/readers/members/alpha.gone', {});
    const token = await tokenFor(temp, 'beta:domain');
    assert.equal(await active(token), true);
    assert.equal((await t.admin$('DELETE', '/domains/alpha/services/gone')).status, 204);
    await assertInactive(token);

    clock += 2000;
    const again = await register('alpha', 'gone');
    await t.admin$('PUT', '/domains/beta/roles/readers/members/alpha.gone', {});
    await assertInactive(token);
    assert.equal(await active(await tokenFor(again, 'beta:domain')), true);
  });

  it("an expired token is inactive, even within the verifier's clock skew", async () => {
    const res = await t.token(api.id, api.secret, { grant_type: 'client_credentials', scope: 'beta:domain', expires_in: '60' });
    assert.equal(res.status, 200, res.text);
    const token = res.json.access_token as string;
    assert.equal(await active(token), true);
    const saved = clock;
    try {
      clock = (decodeJwt(token).exp as number) * 1000 + 1;
      await assertInactive(token);
      clock = saved + 3600_000;
      await assertInactive(token);
    } finally {
      clock = saved;
    }
    assert.equal(await active(token), true);
  });

  it('an ID token is not an access token: inactive', async () => {
    const res = await t.token(api.id, api.secret, { grant_type: 'client_credentials', scope: 'beta:domain openid beta:service.rs' });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json.id_token, 'string');
    await assertInactive(res.json.id_token);
    assert.equal((await revoke(res.json.id_token, api)).status, 200);
    assert.equal(await active(res.json.access_token), true, 'revoking the ID token revokes nothing');
  });

  it('garbage, unsigned, tampered and look-alike tokens are inactive', async () => {
    const token = await tokenFor(api, 'beta:domain');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'alpha.other' })).toString('base64url')}.${signature}`;
    const unsigned = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload}.`;
    for (const candidate of ['x', 'a.b.c', '....', 'Bearer ' + token, tampered, unsigned, `${token}x`, 'tsk_', '\u00e9\u00e9']) {
      await assertInactive(candidate);
    }
  });

  describe('callers', () => {
    it('401 invalid_client AUTH_101 without client authentication, with a Basic challenge', async () => {
      const token = await tokenFor(api, 'beta:domain');
      for (const path of ['/oauth2/introspect', '/oauth2/revoke']) {
        const res = await post(path, { token }, null);
        assertOAuthError(res, 401, 'invalid_client', 'AUTH_101');
        assert.match(String(res.headers['www-authenticate']), /^Basic/);
        // A bearer token is not client authentication.
        assertOAuthError(await post(path, { token }, null, { authorization: `Bearer ${token}` }), 401, 'invalid_client', 'AUTH_101');
      }
      assert.equal(await active(token), true, 'the failed revocation revoked nothing');
    });

    it('401 invalid_client AUTH_101 for a wrong secret or an unknown client', async () => {
      const token = await tokenFor(api, 'beta:domain');
      for (const path of ['/oauth2/introspect', '/oauth2/revoke']) {
        assertOAuthError(await post(path, { token }, { id: rs.id, secret: 'wrong' }), 401, 'invalid_client', 'AUTH_101');
        assertOAuthError(await post(path, { token }, { id: 'beta.nobody', secret: rs.secret }), 401, 'invalid_client', 'AUTH_101');
      }
    });

    it('401 invalid_client AUTH_103 for a disabled caller', async () => {
      const caller = await register('beta', 'sleepy');
      const token = await tokenFor(api, 'beta:domain');
      await t.admin$('PATCH', '/domains/beta/services/sleepy', { status: 'DISABLED' });
      for (const path of ['/oauth2/introspect', '/oauth2/revoke']) {
        assertOAuthError(await post(path, { token }, caller), 401, 'invalid_client', 'AUTH_103');
      }
    });
  });

  describe('bad requests', () => {
    for (const path of ['/oauth2/introspect', '/oauth2/revoke']) {
      it(`${path}: 400 invalid_request for a missing or empty token parameter`, async () => {
        for (const body of [{}, { token: '' }, { other: 'x' }] as Record<string, string>[]) {
          const res = await post(path, body);
          assertOAuthError(res, 400, 'invalid_request');
          assert.match(res.json.error_description, /token parameter is required/);
        }
      });

      it(`${path}: 400 invalid_request for a repeated token parameter`, async () => {
        const token = await tokenFor(api, 'beta:domain');
        const res = await post(path, `token=${token}&token=${token}`);
        assertOAuthError(res, 400, 'invalid_request');
        assert.match(res.json.error_description, /'token' is repeated/);
        assert.equal(await active(token), true);
      });

      it(`${path}: 400 invalid_request for a body that is not form-encoded`, async () => {
        const json = await post(path, '{"token":"x"}', rs, { 'content-type': 'application/json' });
        assertOAuthError(json, 400, 'invalid_request');
        assert.match(json.json.error_description, /application\/x-www-form-urlencoded/);
        const text = await post(path, 'token=x', rs, { 'content-type': 'text/csv' });
        assertOAuthError(text, 400, 'invalid_request');
        assert.match(text.json.error_description, /application\/x-www-form-urlencoded/);
        const bare = await t.send(path, { method: 'POST', headers: { authorization: basic(rs.id, rs.secret) } });
        assertOAuthError(bare, 400, 'invalid_request');
        assert.match(bare.json.error_description, /application\/x-www-form-urlencoded/);
      });

      it(`${path}: 405 for methods other than POST`, async () => {
        const res = await t.send(path, { headers: { authorization: basic(rs.id, rs.secret) } });
        assertOAuthError(res, 405, 'invalid_request');
        assert.equal(res.headers['allow'], 'POST');
      });
    }
  });

  it('advertises both endpoints and their auth methods in the metadata (RFC 8414)', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await t.send(path)).json;
      assert.equal(metadata.introspection_endpoint, `${t.url}/oauth2/introspect`);
      assert.equal(metadata.revocation_endpoint, `${t.url}/oauth2/revoke`);
      assert.deepEqual(metadata.introspection_endpoint_auth_methods_supported, metadata.token_endpoint_auth_methods_supported);
      assert.deepEqual(metadata.revocation_endpoint_auth_methods_supported, metadata.token_endpoint_auth_methods_supported);
    }
  });

  it('describes both endpoints in the OpenAPI document', async () => {
    const doc = (await t.send('/openapi.json')).json;
    assert.ok(doc.paths['/oauth2/introspect']?.post, 'introspect');
    assert.ok(doc.paths['/oauth2/revoke']?.post, 'revoke');
  });
});

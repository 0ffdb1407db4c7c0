// The spine, end to end over real HTTPS: the bootstrap admin registers services and roles,
// a service gets a token, and the token verifies offline against the published JWKS.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify } from 'jose';
import { fetchWithCa } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('token flow (alpha.api gets a token for beta)', () => {
  let t: TestServer;
  let secret: string;

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api', description: 'the alpha API' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.principal, 'alpha.api');
    assert.equal(created.json.clientId, 'alpha.api');
    assert.match(created.json.clientSecret, /^[A-Za-z0-9_-]{43}$/);
    secret = created.json.clientSecret;
    for (const role of ['readers', 'writers']) {
      const res = await t.admin$('PUT', `/domains/beta/roles/${role}`, { members: [{ principal: 'alpha.api' }] });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(() => t.stop());

  it('issues an access token whose claims are exactly those of docs/tokens.md', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:domain' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.json.token_type, 'Bearer');
    assert.equal(res.json.expires_in, 3600);
    assert.equal(res.json.scope, 'beta:role.readers beta:role.writers');

    const header = decodeProtectedHeader(res.json.access_token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'at+jwt');
    assert.equal(typeof header.kid, 'string');

    const jwks = createRemoteJWKSet(new URL(`${t.url}/oauth2/keys`), { [customFetch]: fetchWithCa(t.ca) });
    const { payload } = await jwtVerify(res.json.access_token, jwks, { issuer: t.url, audience: 'beta', typ: 'at+jwt', algorithms: ['ES256'] });
    assert.deepEqual(Object.keys(payload).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'nbf', 'scope', 'scp', 'sub', 'uid', 'ver']);
    assert.equal(payload['ver'], 1);
    assert.equal(payload.iss, t.url);
    assert.equal(payload.aud, 'beta');
    assert.equal(payload.sub, 'alpha.api');
    assert.equal(payload['uid'], 'alpha.api');
    assert.equal(payload['client_id'], 'alpha.api');
    assert.deepEqual(payload['scp'], ['readers', 'writers']);
    assert.equal(payload['scope'], 'beta:role.readers beta:role.writers');
    assert.equal(payload.exp! - payload.iat!, 3600);
    assert.equal(payload.nbf, payload.iat);
    assert.match(payload.jti!, /^[0-9a-f-]{36}$/);
  });

  it('serves the same token at the Athenz path with client_secret_post', async () => {
    const res = await t.send('/zts/v1/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'beta:role.readers', client_id: 'alpha.api', client_secret: secret }).toString(),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.scope, 'beta:role.readers');
  });

  it('grants only the requested roles, in the form they were asked', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:writers' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.scope, 'beta:writers');
    const claims = JSON.parse(Buffer.from(res.json.access_token.split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.scp, ['writers']);
  });

  it('matches role names exactly, never by prefix', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:role.reader' });
    assert.equal(res.status, 403);
    assert.equal(res.json.error, 'access_denied');
  });

  it('covers several domains with an audience array and qualified roles', async () => {
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/ops', { members: [{ principal: 'alpha.api' }] })).status, 201);
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:role.readers alpha:domain' });
    assert.equal(res.status, 200, res.text);
    const claims = JSON.parse(Buffer.from(res.json.access_token.split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.aud, ['beta', 'alpha']);
    assert.deepEqual(claims.scp, ['beta:readers', 'alpha:ops']);
  });

  it('returns an ID token for openid with a service audience', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'openid beta:service.backend beta:domain' });
    assert.equal(res.status, 200, res.text);
    const jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`), { [customFetch]: fetchWithCa(t.ca) });
    const { payload, protectedHeader } = await jwtVerify(res.json.id_token, jwks, { issuer: t.url, audience: 'beta.backend' });
    assert.equal(protectedHeader.typ, 'JWT');
    assert.equal(payload.sub, 'alpha.api');
    assert.equal(payload['auth_time'], payload.iat);
  });

  it('caps expires_in at the server maximum', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:domain', expires_in: '99999999' });
    assert.equal(res.status, 200);
    assert.equal(res.json.expires_in, 86_400);
    const short = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:domain', expires_in: '60' });
    assert.equal(short.json.expires_in, 60);
  });

  it('stops granting a role once the membership has expired', async () => {
    const past = new Date(Date.now() - 1000).toISOString();
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/temps', { members: [{ principal: 'alpha.api', expiresAt: past }] })).status, 201);
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:role.temps' });
    assert.equal(res.status, 403);
    const future = new Date(Date.now() + 60_000).toISOString();
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/temps/members/alpha.api', { expiresAt: future })).status, 200);
    assert.equal((await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:role.temps' })).status, 200);
  });

  it('publishes discovery metadata pointing at the token endpoint and JWKS', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const res = await t.send(path);
      assert.equal(res.status, 200);
      assert.equal(res.json.issuer, t.url);
      assert.equal(res.json.token_endpoint, `${t.url}/oauth2/token`);
      assert.equal(res.json.jwks_uri, `${t.url}/oauth2/keys`);
      assert.deepEqual(res.json.grant_types_supported, ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']);
      for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
        assert.ok(res.json.token_endpoint_auth_methods_supported.includes(method), method);
    }
    const jwks = await t.send('/oauth2/keys');
    assert.match(String(jwks.headers['cache-control']), /max-age=\d+/);
    for (const key of jwks.json.keys) {
      assert.equal(key.use, 'sig');
      assert.equal(key.alg, 'ES256');
      assert.equal(key.crv, 'P-256');
      assert.equal(typeof key.kid, 'string');
      assert.equal(key.d, undefined, 'no private members in the JWKS');
    }
  });

  it('answers health, readiness and metrics', async () => {
    assert.equal((await t.send('/healthz')).status, 200);
    const ready = await t.send('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, 'ready');
    const metrics = await t.send('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /tessera_token_requests_total\{result="issued"\} \d+/);
  });
});

describe('ID token audience', () => {
  it('is refused for a service of a domain where the caller was granted nothing', async () => {
    const t = await startTestServer();
    try {
      for (const name of ['alpha', 'beta']) await t.admin$('POST', '/domains', { name });
      const secret = (await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).json.clientSecret as string;
      await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.api' }] });
      const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'openid beta:service.backend beta:domain alpha:domain' });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.error, 'access_denied');
      assert.match(res.json.error_description, /beta\.backend/);
    } finally {
      await t.stop();
    }
  });
});

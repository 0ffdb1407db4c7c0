// One rule for accepting Tessera's own access tokens (oauth2/accept-token.ts), checked where
// tokens are accepted: the admin API (/admin/v1 and the service-account JSON dialect's /auth/admin/*) and
// introspection. Over real HTTPS, with a server clock the tests move.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { postForm, sendMtls, tesseraCertificate, type ClientCertificate } from '../e2e/mtls-support.ts';

const FORM = 'application/x-www-form-urlencoded';

function assertInvalidToken(res: TestResponse, message: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_token', res.text);
  assert.match(res.json.message, message);
  assert.match(String(res.headers['www-authenticate']), /^Bearer .*error="invalid_token"/);
}

describe('token acceptance: the admin API and introspection refuse what the other refuses', () => {
  let t: TestServer;
  let offset = 0;
  let rs: { id: string; secret: string };

  const register = async (domain: string, name: string): Promise<{ id: string; secret: string }> => {
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return { id: `${domain}.${name}`, secret: res.json.clientSecret as string };
  };
  const tokenFor = async (client: { id: string; secret: string }, scope: string): Promise<string> => {
    const res = await t.token(client.id, client.secret, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const formPost = (path: string, token: string, as: { id: string; secret: string }): Promise<TestResponse> =>
    t.send(path, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic(as.id, as.secret) },
      body: new URLSearchParams({ token }).toString(),
    });
  const introspect = async (token: string): Promise<Record<string, unknown>> => {
    const res = await formPost('/oauth2/introspect', token, rs);
    assert.equal(res.status, 200, res.text);
    return res.json as Record<string, unknown>;
  };
  const seedAccounts = (token: string, client?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, '/auth/admin/service-accounts', { headers: { authorization: `Bearer ${token}` }, client });
  const adminGet = (path: string, token: string, client?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, `/admin/v1${path}`, { headers: { authorization: `Bearer ${token}` }, client });

  before(async () => {
    t = await startTestServer({
      now: () => Date.now() + offset,
      edit: (config) => {
        // 127.0.0.2 plays a TLS-terminating proxy that forwards the client certificate.
        config.trustedProxies = ['127.0.0.2/32'];
        config.mtls.proxyCertHeader = 'X-Client-Cert';
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    rs = await register('beta', 'rs');
  });
  after(() => t.stop());

  describe('a certificate-bound token (RFC 8705 §3)', () => {
    let boundToken: string;
    let cert: ClientCertificate;
    let otherCert: ClientCertificate;

    before(async () => {
      await register('alpha', 'bound');
      await register('alpha', 'stranger');
      const members = [{ principal: 'alpha.bound' }];
      assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members })).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.bound', {})).status, 201);
      cert = await tesseraCertificate(t, 'alpha.bound');
      otherCert = await tesseraCertificate(t, 'alpha.stranger');
      const res = await postForm(t, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin alpha:role.admin' }, { client: cert });
      assert.equal(res.status, 200, res.text);
      boundToken = res.json.access_token as string;
    });

    it('works on the admin API with the certificate it is bound to (control)', async () => {
      assert.equal((await adminGet('/domains/alpha', boundToken, cert)).status, 200);
      assert.equal((await seedAccounts(boundToken, cert)).status, 200);
    });

    it('401 invalid_token on /admin/v1 and /auth/admin without a client certificate', async () => {
      assertInvalidToken(await adminGet('/domains/alpha', boundToken), /bound to a client certificate.*RFC 8705/);
      assertInvalidToken(await seedAccounts(boundToken), /bound to a client certificate/);
    });

    it('401 invalid_token with another trusted certificate', async () => {
      assertInvalidToken(await adminGet('/domains/alpha', boundToken, otherCert), /not the one the token is bound to/);
      assertInvalidToken(await seedAccounts(boundToken, otherCert), /not the one the token is bound to/);
    });

    it('behind a trusted proxy: accepted with the certificate in its header; 401 when the header does not parse', async () => {
      const via = (value: string): Promise<TestResponse> =>
        sendMtls(t, '/admin/v1/domains/alpha', { headers: { authorization: `Bearer ${boundToken}`, 'x-client-cert': value }, localAddress: '127.0.0.2' });
      assert.equal((await via(encodeURIComponent(cert.certPem))).status, 200);
      assertInvalidToken(await via(encodeURIComponent(otherCert.certPem)), /not the one the token is bound to/);
      assertInvalidToken(await via('not%20a%20certificate'), /client certificate could not be read/);
    });

    it('introspection answers it active with its cnf, for the resource server to check', async () => {
      const answer = await introspect(boundToken);
      assert.equal(answer['active'], true);
      assert.deepEqual(answer['cnf'], { 'x5t#S256': cert.thumbprint });
    });
  });

  describe('a revoked token', () => {
    it('401 invalid_token on /admin/v1 and /auth/admin, inactive at introspection', async () => {
      const boss = await register('alpha', 'boss');
      assert.equal((await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.boss', {})).status, 201);
      const token = await tokenFor(boss, 'sys.auth:role.admin');
      assert.equal((await t.admin$('GET', '/domains', undefined, token)).status, 200);
      assert.equal((await seedAccounts(token)).status, 200);

      assert.equal((await formPost('/oauth2/revoke', token, boss)).status, 200);
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, token), /revoked/);
      assertInvalidToken(await t.admin$('POST', '/domains', { name: 'gamma' }, token), /revoked/);
      assertInvalidToken(await seedAccounts(token), /revoked/);
      assert.deepEqual(await introspect(token), { active: false });
      assert.equal((await t.admin$('GET', '/domains/gamma')).status, 404, 'the revoked token wrote nothing');
    });
  });

  describe('the token of a deleted service whose name was registered again', () => {
    it("401 invalid_token on /admin/v1 and /auth/admin, inactive at introspection; the new service's token works", async () => {
      const old = await register('alpha', 'phoenix');
      assert.equal((await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.phoenix', {})).status, 201);
      const token = await tokenFor(old, 'sys.auth:role.admin');
      assert.equal((await t.admin$('GET', '/domains', undefined, token)).status, 200);
      assert.equal((await t.admin$('DELETE', '/domains/alpha/services/phoenix')).status, 204);

      offset += 2000;
      const reborn = await register('alpha', 'phoenix');
      assert.equal((await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.phoenix', {})).status, 201);
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, token), /earlier service named alpha\.phoenix/);
      assertInvalidToken(await t.admin$('POST', '/domains', { name: 'gamma' }, token), /earlier service/);
      assertInvalidToken(await seedAccounts(token), /earlier service/);
      assert.deepEqual(await introspect(token), { active: false });

      const fresh = await tokenFor(reborn, 'sys.auth:role.admin');
      assert.equal((await t.admin$('GET', '/domains', undefined, fresh)).status, 200);
      assert.equal((await introspect(fresh))['active'], true);
    });
  });

  describe('a token naming a role its service no longer holds', () => {
    it('401 invalid_token on the admin API and inactive at introspection, even for a role other than admin', async () => {
      const mixed = await register('alpha', 'mixed');
      assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin/members/alpha.mixed', {})).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.mixed' }] })).status, 201);
      const token = await tokenFor(mixed, 'alpha:role.admin beta:role.readers');
      assert.equal((await t.admin$('GET', '/domains/alpha', undefined, token)).status, 200);
      assert.equal((await introspect(token))['active'], true);

      assert.equal((await t.admin$('DELETE', '/domains/beta/roles/readers/members/alpha.mixed')).status, 204);
      assertInvalidToken(await t.admin$('GET', '/domains/alpha', undefined, token), /no longer holds beta:role\.readers.*get a new token/);
      assert.deepEqual(await introspect(token), { active: false });
      assert.equal((await t.admin$('GET', '/domains/alpha', undefined, await tokenFor(mixed, 'alpha:role.admin'))).status, 200);
    });
  });
});

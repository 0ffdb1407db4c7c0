// A certificate-bound token (RFC 8705 §3, `cnf.x5t#S256`) is worth what its certificate is:
// revoking the certificate ends the token at the admin API (/admin/v1 and /auth/admin) and at
// introspection, the certificate on an admin request is verified in full (not only hashed), and
// no bound token outlives its certificate. Over real HTTPS, with a server clock the tests move
// (certificates Tessera issues live 10 minutes here).

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { accessTokenClaims, signAccessToken } from '../../src/oauth2/tokens.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { introspectAs, startTestServer, type TestServer } from '@tessera/testkit/server';
import {
  assertRejected,
  makeCa,
  makeLeaf,
  newKeys,
  postForm,
  publicKeyPem,
  sendMtls,
  tesseraCertificate,
  type ClientCertificate,
} from '../e2e/mtls-support.ts';

const CERT_LIFETIME = 600;
const ADMIN_SCOPE = 'sys.auth:role.admin alpha:role.admin';
const PARTNER_EMAIL = 'ops@partner.example';

function assertInvalidToken(res: TestResponse, message: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_token', res.text);
  assert.match(res.json.message, message);
  assert.match(String(res.headers['www-authenticate']), /^Bearer .*error="invalid_token"/);
}

/** Seconds since the epoch, as a token's exp counts. */
const notAfterOf = (cert: ClientCertificate): number => new X509Certificate(cert.certPem).validToDate.getTime() / 1000;

describe('a certificate-bound token ends with its certificate', () => {
  let t: TestServer;
  let dir: string;
  let offset = 0;
  let pinned: number | null = null;
  let rs: { id: string; secret: string };
  let partnerCert: ClientCertificate;

  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const createService = (token: string, name: string, client?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, '/admin/v1/domains/alpha/services', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
      client,
    });
  const seedAccounts = (token: string, client?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, '/auth/admin/service-accounts', { headers: bearer(token), client });
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  const boundToken = async (cert: ClientCertificate, params: Record<string, string> = {}): Promise<TestResponse> => {
    const res = await postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE, ...params }, { client: cert });
    assert.equal(res.status, 200, res.text);
    return res;
  };
  /** An admin service of alpha (and of the system), holding alpha:role.admin and sys.auth:role.admin. */
  const adminService = async (name: string): Promise<void> => {
    const res = await t.admin$('POST', '/domains/alpha/services', { name });
    assert.equal(res.status, 201, res.text);
    assert.equal((await t.admin$('PUT', `/domains/alpha/roles/admin/members/alpha.${name}`, {})).status, 201);
    assert.equal((await t.admin$('PUT', `/domains/sys.auth/roles/admin/members/alpha.${name}`, {})).status, 201);
  };
  /**
   * A bound token as a Tessera without the cap on exp signed it (tokens issued before the upgrade
   * stay valid up to 24 h): it outlives its certificate.
   */
  const uncappedToken = async (principal: string, cert: ClientCertificate): Promise<string> => {
    const claims = accessTokenClaims({
      issuer: t.server.config.issuer,
      principal,
      audience: ['sys.auth', 'alpha'],
      scp: ['sys.auth:admin', 'alpha:admin'],
      scope: ADMIN_SCOPE,
      issuedAt: Math.floor((Date.now() + offset) / 1000),
      lifetime: 24 * 3600,
      certificateThumbprint: cert.thumbprint,
    });
    return signAccessToken(claims, t.server.signingKeys.current());
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-bound-'));
    const partnerCa = await makeCa('Partner Login CA');
    await writeFile(join(dir, 'partner.pem'), partnerCa.certPem);
    partnerCert = await makeLeaf(partnerCa, { emails: [PARTNER_EMAIL], notAfter: new Date(Date.now() + 300_000) });
    t = await startTestServer({
      now: () => pinned ?? Date.now() + offset,
      edit: (config) => {
        config.ca.certLifetime = CERT_LIFETIME;
        config.tokenReuse.enabled = true;
        config.certLogin.enabled = true;
        config.certLogin.trustedCas = [join(dir, 'partner.pem')];
        config.certLogin.mappings = [{ san: PARTNER_EMAIL, principal: 'alpha.partner', cas: [join(dir, 'partner.pem')] }];
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const role = await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [] });
    assert.equal(role.status, 201, role.text);
    const created = await t.admin$('POST', '/domains/beta/services', { name: 'rs' });
    assert.equal(created.status, 201, created.text);
    rs = { id: 'beta.rs', secret: created.json.clientSecret as string };
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('revoking the certificate (keyCompromise) ends its token at /admin/v1, /auth/admin and introspection', async () => {
    await adminService('adm');
    const cert = await tesseraCertificate(t, 'alpha.adm');
    const token = (await boundToken(cert)).json.access_token as string;
    assert.equal((await createService(token, 'before-revoke', cert)).status, 201);
    assert.equal((await seedAccounts(token, cert)).status, 200);
    assert.equal((await introspect(token))['active'], true);

    assert.equal((await t.admin$('POST', `/certificates/${cert.serial}/revoke`, { reason: 'keyCompromise' })).status, 200);
    assertRejected(await postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }, { client: cert }), /revoked/);
    const why = new RegExp(`bound to \\(serial ${cert.serial}\\) was revoked at .*keyCompromise.*get a new certificate`);
    assertInvalidToken(await createService(token, 'after-revoke', cert), why);
    assertInvalidToken(await seedAccounts(token, cert), why);
    assert.deepEqual(await introspect(token), { active: false });
    assert.equal((await t.admin$('GET', '/domains/alpha/services/after-revoke')).status, 404, 'the token wrote nothing');
  });

  it('a token that outlives its certificate ends when the certificate expires: 401 on the admin API, inactive at introspection', async () => {
    await adminService('old');
    const cert = await tesseraCertificate(t, 'alpha.old');
    const token = await uncappedToken('alpha.old', cert);
    assert.equal((await createService(token, 'before-expiry', cert)).status, 201);
    assert.equal((await introspect(token))['active'], true);

    offset += (CERT_LIFETIME + 60) * 1000;
    try {
      const why = new RegExp(`certificate the token is bound to \\(serial ${cert.serial}\\) expired at .*renew it`);
      assertInvalidToken(await createService(token, 'after-expiry', cert), why);
      assertInvalidToken(await seedAccounts(token, cert), why);
      assert.deepEqual(await introspect(token), { active: false });
    } finally {
      offset -= (CERT_LIFETIME + 60) * 1000;
    }
  });

  it('on the admin API the certificate itself is verified: an expired self-signed one ends its token there; introspection cannot know', async () => {
    await adminService('selfie');
    const keys = await newKeys();
    assert.equal((await t.admin$('PUT', '/domains/alpha/services/selfie/keys/k1', { pem: await publicKeyPem(keys) })).status, 201);
    const cert = await makeLeaf(null, { subject: 'CN=alpha.selfie', keys, notAfter: new Date(Date.now() + 120_000) });
    const token = await uncappedToken('alpha.selfie', cert);
    assert.equal((await createService(token, 'selfie-before', cert)).status, 201);

    offset += 300_000;
    try {
      const why = /certificate the token is bound to is not trusted now: .*expired at/;
      assertInvalidToken(await createService(token, 'selfie-after', cert), why);
      assertInvalidToken(await seedAccounts(token, cert), /not trusted now: .*expired at/);
      // No record of a self-signed certificate: the answer reports cnf, for the resource server to check.
      const answer = await introspect(token);
      assert.equal(answer['active'], true);
      assert.deepEqual(answer['cnf'], { 'x5t#S256': cert.thumbprint });
    } finally {
      offset -= 300_000;
    }
  });

  it('a token from certificate login (certLogin.trustedCas) works on the admin API with its certificate', async () => {
    await adminService('partner');
    const res = await postForm(t, { scope: ADMIN_SCOPE }, { client: partnerCert, path: '/auth/x509/login' });
    assert.equal(res.status, 200, res.text);
    const token = res.json.access_token as string;
    assert.equal((await createService(token, 'by-partner', partnerCert)).status, 201);
    assert.equal((await seedAccounts(token, partnerCert)).status, 200);
  });

  describe('no bound token outlives its certificate', () => {
    it('the token endpoint (tls_client_auth): exp and expires_in stop at notAfter, the ID token too, and a reused token', async () => {
      await adminService('short');
      const cert = await tesseraCertificate(t, 'alpha.short');
      const notAfter = notAfterOf(cert);
      const res = await boundToken(cert, { scope: `openid ${ADMIN_SCOPE} alpha:service.short`, expires_in: '3600' });
      const claims = decodeJwt(res.json.access_token as string);
      assert.ok(claims.exp! <= notAfter, `exp ${claims.exp} is after the certificate's notAfter ${notAfter}`);
      assert.ok(claims.exp! >= notAfter - 5, `exp ${claims.exp} was cut further than the certificate asks`);
      assert.ok((res.json.expires_in as number) <= CERT_LIFETIME, `expires_in ${res.json.expires_in}`);
      assert.ok(decodeJwt(res.json.id_token as string).exp! <= notAfter);
      // An answer with an ID token is never reused (its ID token may be revoked on its own): a new one.
      const renewed = await boundToken(cert, { scope: `openid ${ADMIN_SCOPE} alpha:service.short`, expires_in: '3600' });
      assert.notEqual(renewed.json.access_token, res.json.access_token, 'an answer with an ID token is signed afresh');
      const plain = await boundToken(cert, { scope: ADMIN_SCOPE, expires_in: '3600' });
      const again = await boundToken(cert, { scope: ADMIN_SCOPE, expires_in: '3600' });
      assert.equal(again.json.access_token, plain.json.access_token, 'token reuse is on: the same token');
      assert.ok(decodeJwt(again.json.access_token as string).exp! <= notAfter);
      assert.ok((again.json.expires_in as number) <= CERT_LIFETIME);
    });

    it('certificate login: exp stops at the certificate notAfter', async () => {
      const res = await postForm(t, { scope: ADMIN_SCOPE, expires_in: '3600' }, { client: partnerCert, path: '/auth/x509/login' });
      assert.equal(res.status, 200, res.text);
      assert.ok(decodeJwt(res.json.access_token as string).exp! <= notAfterOf(partnerCert));
      assert.ok((res.json.expires_in as number) <= 300);
    });

    it('self_signed_tls_client_auth: exp stops at the certificate notAfter', async () => {
      const keys = await newKeys();
      assert.equal((await t.admin$('PUT', '/domains/alpha/services/selfie/keys/k2', { pem: await publicKeyPem(keys) })).status, 201);
      const cert = await makeLeaf(null, { subject: 'CN=alpha.selfie', keys, notAfter: new Date(Date.now() + 120_000) });
      const res = await boundToken(cert, { client_id: 'alpha.selfie', expires_in: '3600' });
      assert.ok(decodeJwt(res.json.access_token as string).exp! <= notAfterOf(cert));
      assert.ok((res.json.expires_in as number) <= 120);
    });

    it('a certificate in its last second gets no token: 401 invalid_client AUTH_101, renew it', async () => {
      const cert = await tesseraCertificate(t, 'alpha.short');
      pinned = notAfterOf(cert) * 1000;
      try {
        const res = await postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }, { client: cert });
        assertRejected(res, /expires within this second; renew it/);
      } finally {
        pinned = null;
      }
    });
  });
});

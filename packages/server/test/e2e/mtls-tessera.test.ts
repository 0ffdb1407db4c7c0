// The whole RFC 8705 flow with Tessera's own CA, over real TLS: a service registers a key, gets
// a certificate for it (POST /ca/v1/certificates, key assertion), and uses that certificate to
// authenticate at the token endpoint (tls_client_auth) and at certificate login. The token's
// `cnf.x5t#S256` is the certificate's SHA-256 thumbprint; the certificate stops working when it
// expires or is revoked.

import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { x509 } from '../../src/ca/x509.ts';
import type { Config } from '../../src/config/config.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { assertRejected, claimsOf, postForm, tesseraCertificate, type ClientCertificate } from './mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };

describe("tls_client_auth with certificates from Tessera's CA", () => {
  let t: TestServer;
  let clock = Date.now();
  let api: ClientCertificate;
  let apiAgain: ClientCertificate;
  let worker: ClientCertificate;

  before(async () => {
    t = await startTestServer({
      now: () => clock,
      edit: (config: Config) => {
        config.certLogin.enabled = true;
        config.tokenReuse = { enabled: true, window: 30 };
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['api', 'worker', 'other']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    const members = ['api', 'worker'].map((name) => ({ principal: `alpha.${name}` }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
    api = await tesseraCertificate(t, 'alpha.api');
    apiAgain = await tesseraCertificate(t, 'alpha.api');
    worker = await tesseraCertificate(t, 'alpha.worker');
  });
  after(() => t.stop());

  it("issues a token for the certificate's principal whose cnf.x5t#S256 is the certificate's SHA-256 thumbprint", async () => {
    const res = await postForm(t, TOKEN, { client: api });
    assert.equal(res.status, 200, res.text);
    const claims = claimsOf(res);
    assert.equal(claims.sub, 'alpha.api');
    assert.equal(claims['client_id'], 'alpha.api');
    assert.deepEqual(claims['scp'], ['readers']);
    const thumbprint = createHash('sha256').update(new X509Certificate(api.certPem).raw).digest('base64url');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprint });
  });

  it("accepts client_id when it names the certificate's service, and refuses another service's", async () => {
    assert.equal((await postForm(t, { ...TOKEN, client_id: 'alpha.api' }, { client: api })).status, 200);
    assertRejected(
      await postForm(t, { ...TOKEN, client_id: 'alpha.other' }, { client: api }),
      /client_id 'alpha.other' is not the client the certificate names \(alpha.api\)/,
    );
  });

  it('keeps tokens of two certificates of one service apart, also under token reuse', async () => {
    const first = await postForm(t, TOKEN, { client: api });
    const repeat = await postForm(t, TOKEN, { client: api });
    const other = await postForm(t, TOKEN, { client: apiAgain });
    assert.equal(repeat.json.access_token, first.json.access_token, 'the same certificate gets the token it already has');
    assert.notEqual(other.json.access_token, first.json.access_token);
    assert.deepEqual(claimsOf(other).cnf, { 'x5t#S256': apiAgain.thumbprint });
  });

  it('logs in with the certificate at /auth/x509/login as its own principal', async () => {
    const res = await postForm(t, { scope: 'beta:domain' }, { client: worker, path: '/auth/x509/login' });
    assert.equal(res.status, 200, res.text);
    assert.equal(claimsOf(res).sub, 'alpha.worker');
    assert.deepEqual(claimsOf(res).cnf, { 'x5t#S256': worker.thumbprint });
  });

  it('refuses a revoked serial at the token endpoint and at login, at once', async () => {
    const revoked = await t.admin$('POST', `/certificates/${worker.serial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.status, 200, revoked.text);
    const expected = new RegExp(`serial ${worker.serial}\\) was revoked at `);
    assertRejected(await postForm(t, TOKEN, { client: worker }), expected);
    assertRejected(await postForm(t, { scope: 'beta:domain' }, { client: worker, path: '/auth/x509/login' }), expected);
  });

  it('refuses the certificate once it has expired', async () => {
    clock += 2 * 86_400_000;
    try {
      assertRejected(await postForm(t, TOKEN, { client: api }), /the client certificate expired at /);
    } finally {
      clock -= 2 * 86_400_000;
    }
  });
});

describe('tls_client_auth across a CA rotation', () => {
  let t: TestServer;
  let clock = Date.now();

  before(async () => {
    t = await startTestServer({
      now: () => clock,
      edit: (config: Config) => {
        config.ca.prePublication = 10;
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
  });
  after(() => t.stop());

  it("keeps accepting the previous generation's certificate, sent without its chain, next to the new one's", async () => {
    const before = await tesseraCertificate(t, 'alpha.api');
    assert.equal((await t.admin$('POST', '/ca/rotate')).status, 202);
    clock += 20_000;
    await t.server.ca.refresh();
    const after = await tesseraCertificate(t, 'alpha.api');
    const issuerKey = (client: ClientCertificate): string | undefined =>
      new x509.X509Certificate(client.certPem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    assert.notEqual(issuerKey(after), issuerKey(before), 'the new certificate comes from the new generation');

    for (const client of [before, after]) {
      const res = await postForm(t, TOKEN, { client });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(claimsOf(res).cnf, { 'x5t#S256': client.thumbprint });
    }
  });
});

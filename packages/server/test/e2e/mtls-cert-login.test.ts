// Certificate login, POST /auth/x509/login (docs/http-api.md): a client certificate from a
// trusted external CA (certLogin.trustedCas) is mapped to a principal and exchanged for a
// certificate-bound access token through the token endpoint's own path. Off by default;
// explicit credentials in the same request win over the certificate.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { x509 } from '../../src/ca/x509.ts';
import type { Config } from '../../src/config/config.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { claimsOf, makeCa, makeLeaf, postForm, sendMtls, type ClientCertificate, type TestCa } from './mtls-support.ts';

const LOGIN = '/auth/x509/login';
const SCOPE = { scope: 'beta:domain' };

function assertRejected(res: TestResponse, description: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_client', res.text);
  assert.equal(res.json.error_code, 'AUTH_101', res.text);
  assert.match(res.json.error_description, description);
}

function assertBound(res: TestResponse, principal: string, client: ClientCertificate): void {
  assert.equal(res.status, 200, res.text);
  assert.equal(claimsOf(res).sub, principal);
  assert.deepEqual(claimsOf(res).cnf, { 'x5t#S256': client.thumbprint });
}

const login = (
  t: TestServer,
  client: ClientCertificate | undefined,
  params: Record<string, string> = SCOPE,
  headers: Record<string, string> = {},
): Promise<TestResponse> => postForm(t, params, { path: LOGIN, ...(client && { client }), headers });

async function withServices(t: TestServer, names: string[]): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
  for (const name of names) {
    const res = await t.admin$('POST', '/domains/alpha/services', { name, secret: true });
    assert.equal(res.status, 201, res.text);
    secrets[name] = res.json.clientSecret;
  }
  assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: names.map((name) => ({ principal: `alpha.${name}` })) })).status, 201);
  return secrets;
}

describe('certificate login is off by default', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('answers 404 and says how to turn it on', async () => {
    const res = await login(t, undefined);
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json.error, 'not_found');
    assert.match(res.json.message, /certificate login is off on this server; an operator turns it on with certLogin.enabled/);
  });

  it('leaves the route out of the OpenAPI document', async () => {
    const res = await sendMtls(t, '/openapi.json');
    assert.equal(res.json.paths[LOGIN], undefined);
  });
});

describe('certificate login (mapping, EKU and precedence)', () => {
  let t: TestServer;
  let dir: string;
  let loginCa: TestCa;
  let secrets: Record<string, string>;
  const certs = {} as Record<'bySubject' | 'bySan' | 'byFingerprint' | 'unmapped' | 'noEku' | 'serverOnly' | 'unknownCa' | 'expired', ClientCertificate>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-login-'));
    loginCa = await makeCa('Partner Root');
    const unknown = await makeCa('Unknown Root');
    await writeFile(join(dir, 'partner.pem'), loginCa.certPem);
    Object.assign(certs, {
      bySubject: await makeLeaf(loginCa, { subject: 'CN=Jane Operator, OU=Payments, O=Partner' }),
      bySan: await makeLeaf(loginCa, { emails: ['batch@partner.example'] }),
      byFingerprint: await makeLeaf(loginCa),
      unmapped: await makeLeaf(loginCa, { dns: ['stranger.partner.example'] }),
      noEku: await makeLeaf(loginCa, { emails: ['batch@partner.example'], eku: null }),
      serverOnly: await makeLeaf(loginCa, { emails: ['batch@partner.example'], eku: [x509.ExtendedKeyUsage.serverAuth] }),
      unknownCa: await makeLeaf(unknown, { emails: ['batch@partner.example'] }),
      expired: await makeLeaf(loginCa, {
        emails: ['batch@partner.example'],
        notBefore: new Date(Date.now() - 7_200_000),
        notAfter: new Date(Date.now() - 3_600_000),
      }),
    });
    t = await startTestServer({
      edit: (config: Config) => {
        config.certLogin.enabled = true;
        config.certLogin.trustedCas = [join(dir, 'partner.pem')];
        const cas = [join(dir, 'partner.pem')];
        config.certLogin.mappings = [
          { subject: 'CN=Jane Operator,OU=Payments,O=Partner', principal: 'alpha.jane', cas },
          { san: 'batch@partner.example', principal: 'alpha.batch', cas },
          { fingerprint: certs.byFingerprint.fingerprintHex, principal: 'alpha.pinned', cas },
        ];
      },
    });
    secrets = await withServices(t, ['jane', 'batch', 'pinned', 'mixed']);
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers what the token endpoint answers, with a token bound to the certificate', async () => {
    const res = await login(t, certs.bySubject);
    assertBound(res, 'alpha.jane', certs.bySubject);
    assert.equal(res.json.token_type, 'Bearer');
    assert.equal(res.json.scope, 'beta:role.readers');
    assert.equal(typeof res.json.expires_in, 'number');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(claimsOf(res).aud, 'beta');
  });

  it('binds an ID token got by certificate login to the certificate, as the access token is', async () => {
    const res = await login(t, certs.bySan, { scope: 'beta:domain openid beta:service.api' });
    assertBound(res, 'alpha.batch', certs.bySan);
    const idToken = JSON.parse(Buffer.from(String(res.json.id_token).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(idToken['cnf'], { 'x5t#S256': certs.bySan.thumbprint });
  });

  it('maps by a SAN (e-mail)', async () => {
    assertBound(await login(t, certs.bySan), 'alpha.batch', certs.bySan);
  });

  it('accepts a client_id naming the mapped service and refuses another', async () => {
    assertBound(await login(t, certs.bySan, { ...SCOPE, client_id: 'alpha.batch' }), 'alpha.batch', certs.bySan);
    assertRejected(
      await login(t, certs.bySan, { ...SCOPE, client_id: 'alpha.jane' }),
      /client_id 'alpha.jane' is not the client the certificate names \(alpha.batch\)/,
    );
  });

  it('maps by SHA-256 fingerprint', async () => {
    assertBound(await login(t, certs.byFingerprint), 'alpha.pinned', certs.byFingerprint);
  });

  it('takes a JSON body, with expires_in as a number', async () => {
    const res = await sendMtls(t, LOGIN, {
      method: 'POST',
      client: certs.bySan,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'beta:readers', expires_in: 120 }),
    });
    assertBound(res, 'alpha.batch', certs.bySan);
    assert.equal(res.json.expires_in, 120);
  });

  it('needs a scope, as the token endpoint does', async () => {
    const res = await sendMtls(t, LOGIN, { method: 'POST', client: certs.bySan });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_scope');
    assert.match(res.json.error_description, /scope is required/);
  });

  it('refuses a body that is neither a form nor JSON', async () => {
    const res = await sendMtls(t, LOGIN, { method: 'POST', client: certs.bySan, headers: { 'content-type': 'text/plain' }, body: 'scope=beta:domain' });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request');
    assert.match(res.json.error_description, /send the body as application\/x-www-form-urlencoded or application\/json/);
  });

  it('refuses a JSON field of the wrong type', async () => {
    const res = await sendMtls(t, LOGIN, {
      method: 'POST',
      client: certs.bySan,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: ['beta:domain'] }),
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request');
    assert.match(res.json.error_description, /scope must be string/);
  });

  it('refuses a certificate without the clientAuth extended key usage (requireClientAuthEku is on by default)', async () => {
    assertRejected(await login(t, certs.noEku), /has no extended key usage extension; it must allow clientAuth \(1\.3\.6\.1\.5\.5\.7\.3\.2\)/);
    assertRejected(await login(t, certs.serverOnly), /extended key usage does not include clientAuth/);
  });

  it('refuses a certificate from a CA it was not told to trust', async () => {
    assertRejected(await login(t, certs.unknownCa), /does not chain to a CA Tessera trusts/);
  });

  it('refuses an expired certificate', async () => {
    assertRejected(await login(t, certs.expired), /the client certificate expired at /);
  });

  it('refuses a certificate no mapping rule names', async () => {
    assertRejected(await login(t, certs.unmapped), /no certLogin.mappings rule maps this certificate/);
  });

  it('asks for a certificate or credentials when there is neither', async () => {
    assertRejected(await login(t, undefined), /certificate login needs a client certificate \(connect with mutual TLS\) or client credentials/);
  });

  it('lets explicit credentials win over the certificate (Basic): the token is theirs and unbound', async () => {
    const res = await login(t, certs.bySubject, SCOPE, { authorization: basic('alpha.mixed', secrets['mixed']!) });
    assert.equal(res.status, 200, res.text);
    assert.equal(claimsOf(res).sub, 'alpha.mixed');
    assert.equal(claimsOf(res).cnf, undefined);
  });

  it('lets explicit credentials win over the certificate (client_secret in the body)', async () => {
    const res = await login(t, certs.bySubject, { ...SCOPE, client_id: 'alpha.mixed', client_secret: secrets['mixed']! });
    assert.equal(res.status, 200, res.text);
    assert.equal(claimsOf(res).sub, 'alpha.mixed');
    assert.equal(claimsOf(res).cnf, undefined);
  });

  it('does not fall back to the certificate when the explicit credentials are wrong', async () => {
    const res = await login(t, certs.bySubject, SCOPE, { authorization: basic('alpha.mixed', 'wrong') });
    assertRejected(res, /client authentication failed: unknown client or wrong credentials/);
  });

  it("applies the service's standing: a disabled service gets AUTH_103", async () => {
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/pinned', { status: 'DISABLED' })).status, 200);
    const res = await login(t, certs.byFingerprint);
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error_code, 'AUTH_103');
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/pinned', { status: 'ACTIVE' })).status, 200);
  });

  it('trusts certLogin.trustedCas for login only, not for tls_client_auth at the token endpoint', async () => {
    const res = await postForm(t, { grant_type: 'client_credentials', ...SCOPE }, { client: certs.bySan });
    assertRejected(res, /does not chain to a CA Tessera trusts/);
  });

  it('is audited like any token request', async () => {
    assert.equal((await login(t, certs.bySan)).status, 200);
    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?principal=alpha.batch&type=token.issued');
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.events.length > 0, res.text);
    assert.equal(res.json.events[0].after.method, 'tls_client_auth');
  });

  it('is documented in the OpenAPI document', async () => {
    const res = await sendMtls(t, '/openapi.json');
    assert.ok(res.json.paths[LOGIN]?.post, 'POST /auth/x509/login is documented');
  });
});

describe('certificate login with requireClientAuthEku off', () => {
  let t: TestServer;
  let dir: string;
  let noEku: ClientCertificate;
  let serverOnly: ClientCertificate;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-login-'));
    const ca = await makeCa('Partner Root');
    await writeFile(join(dir, 'partner.pem'), ca.certPem);
    noEku = await makeLeaf(ca, { dns: ['legacy.partner.example'], eku: null });
    serverOnly = await makeLeaf(ca, { dns: ['legacy.partner.example'], eku: [x509.ExtendedKeyUsage.serverAuth] });
    t = await startTestServer({
      edit: (config: Config) => {
        config.certLogin.enabled = true;
        config.certLogin.requireClientAuthEku = false;
        config.certLogin.trustedCas = [join(dir, 'partner.pem')];
        config.certLogin.mappings = [{ san: 'legacy.partner.example', principal: 'alpha.legacy', cas: [join(dir, 'partner.pem')] }];
      },
    });
    await withServices(t, ['legacy']);
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a certificate without an extended key usage extension', async () => {
    assertBound(await login(t, noEku), 'alpha.legacy', noEku);
  });

  it('still refuses one whose extended key usage excludes clientAuth', async () => {
    assertRejected(await login(t, serverOnly), /extended key usage does not include clientAuth/);
  });
});

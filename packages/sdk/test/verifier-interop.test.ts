// The verifier and middleware against a real Tessera over HTTPS with its private CA: tokens
// from the token endpoint (and from openid-client, an independent client, through discovery)
// are accepted with their roles; Tessera's ID tokens and tokens for other audiences are not;
// API keys are checked through Tessera's introspection and stop working when revoked; and a
// certificate-bound token (tls_client_auth) is good only from the certificate it is bound to.

import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { send } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { claimsOf, postForm, tesseraCertificate } from '../../server/test/e2e/mtls-support.ts';
import { nodeAuth } from '../src/middleware/index.ts';
import { createVerifier, InsufficientScopeError, InvalidAudienceError, InvalidTokenError, type Verifier } from '../src/verifier/index.ts';
import { call, selfSignedCertificates, type TlsMaterial } from './verifier-fixtures.ts';

interface Client {
  id: string;
  secret: string;
}

/** A fetch for openid-client that trusts only the test server's CA. */
function fetchTrusting(ca: string) {
  return async (url: string, init: { method?: string; headers?: Headers | Record<string, string>; body?: unknown } = {}): Promise<Response> => {
    const headers = init.headers instanceof Headers ? Object.fromEntries(init.headers) : init.headers;
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    const res = await send(url, { method: init.method, headers, body, ca });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
    return new Response(res.text, { status: res.status, headers: responseHeaders });
  };
}

describe('verifier against a real Tessera', () => {
  let t: TestServer;
  let api: Client;
  let rs: Client;
  let verifier: Verifier;

  const tokenFor = async (client: Client, scope: string): Promise<{ access_token: string; id_token?: string }> => {
    const res = await t.token(client.id, client.secret, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json;
  };
  const register = async (domain: string, name: string): Promise<Client> => {
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return { id: `${domain}.${name}`, secret: res.json.clientSecret as string };
  };

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta', 'gamma']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    api = await register('alpha', 'api');
    rs = await register('beta', 'rs');
    for (const [domain, role] of [
      ['beta', 'readers'],
      ['beta', 'writers'],
      ['gamma', 'admin'],
    ] as const) {
      assert.equal((await t.admin$('PUT', `/domains/${domain}/roles/${role}`, { members: [{ principal: 'alpha.api' }] })).status, 201);
    }
    verifier = createVerifier({ issuer: t.url, audience: 'beta', ca: t.ca, apiKeys: { clientId: rs.id, clientSecret: rs.secret, cacheTtl: 0 } });
  });
  after(() => t.stop());

  it('accepts a Tessera access token, found through discovery over HTTPS with the private CA', async () => {
    const { access_token: token } = await tokenFor(api, 'beta:domain');
    const auth = await verifier.verify(token, { scope: ['beta:role.writers'] });
    assert.equal(auth.principal, 'alpha.api');
    assert.deepEqual({ ...auth.roles }, { beta: ['readers', 'writers'] });
    assert.deepEqual(auth.audience, ['beta']);
    assert.equal(auth.claims['iss'], t.url);
    await assert.rejects(verifier.verify(token, { scope: ['beta:role.admin'] }), InsufficientScopeError);
  });

  it('reads a multi-domain Tessera token as each of its domains', async () => {
    const { access_token: token } = await tokenFor(api, 'beta:role.readers gamma:admin');
    const gamma = createVerifier({ issuer: t.url, audience: 'gamma', ca: t.ca });
    const auth = await gamma.verify(token, { roles: { domain: 'gamma', roles: ['admin'] } });
    assert.deepEqual({ ...auth.roles }, { beta: ['readers'], gamma: ['admin'] });
    await verifier.verify(token, { scope: ['beta:readers'] });
    await assert.rejects(verifier.verify(token, { scope: ['beta:writers'] }), InsufficientScopeError);
  });

  it('accepts a token openid-client obtained with client_credentials from discovery', async () => {
    const config = await oidc.discovery(new URL(t.url), api.id, api.secret, oidc.ClientSecretBasic(api.secret), { [oidc.customFetch]: fetchTrusting(t.ca) });
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'beta:domain' });
    assert.equal((await verifier.verify(tokens.access_token)).principal, 'alpha.api');
  });

  it('refuses a Tessera ID token (typ JWT) where an access token is expected', async () => {
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'api' })).status, 201);
    const { id_token: idToken } = await tokenFor(api, 'openid beta:service.api beta:domain');
    assert.ok(idToken);
    const forService = createVerifier({ issuer: t.url, audience: 'beta.api', ca: t.ca });
    await assert.rejects(forService.verify(idToken), (error: unknown) => error instanceof InvalidTokenError && error.reason === 'type');
  });

  it('refuses a Tessera token for another audience with AUTH_107, and one from another Tessera', async () => {
    await assert.rejects(verifier.verify(await t.adminToken()), InvalidAudienceError);
    const other = await startTestServer();
    try {
      const res = await other.token(other.admin.clientId, other.admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
      const sysVerifier = createVerifier({ issuer: t.url, audience: 'sys.auth', ca: t.ca });
      // The signature is checked first: another Tessera's keys are not this issuer's.
      await assert.rejects(sysVerifier.verify(res.json.access_token), (error: unknown) => error instanceof InvalidTokenError && error.reason === 'key');
    } finally {
      await other.stop();
    }
  });

  it("checks an API key through Tessera's introspection, and refuses it once revoked", async () => {
    const created = await t.admin$('POST', '/domains/alpha/services/api/api-keys', { audience: 'beta' });
    assert.equal(created.status, 201, created.text);
    const auth = await verifier.verifyApiKey(created.json.apiKey, { scope: ['beta:role.readers'] });
    assert.equal(auth.kind, 'api_key');
    assert.equal(auth.principal, 'alpha.api');
    assert.deepEqual({ ...auth.roles }, { beta: ['readers', 'writers'] });
    assert.equal((await t.admin$('DELETE', `/domains/alpha/services/api/api-keys/${created.json.id}`)).status, 204);
    await assert.rejects(verifier.verifyApiKey(created.json.apiKey), (error: unknown) => error instanceof InvalidTokenError && error.reason === 'inactive');
  });

  it("refuses a Tessera API key issued for another audience with AUTH_107, as it refuses that service's token", async () => {
    const created = await t.admin$('POST', '/domains/alpha/services/api/api-keys', { audience: 'gamma' });
    assert.equal(created.status, 201, created.text);
    const apiKeys = { clientId: rs.id, clientSecret: rs.secret, cacheTtl: 0 };
    const gamma = createVerifier({ issuer: t.url, audience: 'gamma', ca: t.ca, apiKeys });
    assert.deepEqual({ ...(await gamma.verifyApiKey(created.json.apiKey)).roles }, { gamma: ['admin'] });
    await assert.rejects(verifier.verifyApiKey(created.json.apiKey), InvalidAudienceError);
    const { access_token: gammaToken } = await tokenFor(api, 'gamma:domain');
    await assert.rejects(verifier.verify(gammaToken), InvalidAudienceError);
  });

  it('serves a node:http route with Tessera tokens: 200 for beta, 401 AUTH_107 for an admin token', async () => {
    const tls = selfSignedCertificates(['rs'])['rs'] as TlsMaterial;
    const auth = nodeAuth(verifier);
    const server = createHttpsServer(
      tls,
      auth((_req, res, context) => void res.end(context.principal), { scope: ['beta:role.readers'] }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const ok = await call(url, { ca: tls.cert, headers: { authorization: `Bearer ${(await tokenFor(api, 'beta:domain')).access_token}` } });
      assert.equal(ok.status, 200);
      assert.equal(ok.json, 'alpha.api');
      const refused = await call(url, { ca: tls.cert, headers: { authorization: `Bearer ${await t.adminToken()}` } });
      assert.equal(refused.status, 401);
      assert.equal(refused.json.error_code, 'AUTH_107');
    } finally {
      server.close();
    }
  });

  it('accepts a certificate-bound Tessera token only from the certificate it is bound to', async () => {
    const metadata = await t.send('/.well-known/oauth-authorization-server');
    assert.ok((metadata.json.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'worker' })).status, 201);
    const apiCert = await tesseraCertificate(t, 'alpha.api');
    const workerCert = await tesseraCertificate(t, 'alpha.worker');
    const issued = await postForm(t, { grant_type: 'client_credentials', scope: 'beta:domain' }, { client: apiCert });
    assert.equal(issued.status, 200, issued.text);
    assert.deepEqual(claimsOf(issued).cnf, { 'x5t#S256': apiCert.thumbprint });
    const token = issued.json.access_token as string;

    const tls = selfSignedCertificates(['rs'])['rs'] as TlsMaterial;
    const server = createHttpsServer(
      { ...tls, requestCert: true, rejectUnauthorized: false },
      nodeAuth(verifier)((_req, res, context) => void res.end(context.certificateThumbprint), { scope: ['beta:role.readers'] }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const as = (cert: { certPem: string; keyPem: string } | null) =>
      call(url, { ca: tls.cert, headers: { authorization: `Bearer ${token}` }, ...(cert && { cert: cert.certPem, key: cert.keyPem }) });
    try {
      const ok = await as(apiCert);
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json, apiCert.thumbprint);
      const stolen = await as(workerCert);
      assert.equal(stolen.status, 401);
      assert.equal(stolen.json.error_code, 'AUTH_105');
      assert.match(stolen.json.error_description, /bound to another client certificate/);
      const bare = await as(null);
      assert.equal(bare.status, 401);
      assert.match(bare.json.error_description, /came without one/);
    } finally {
      server.close();
    }
  });
});

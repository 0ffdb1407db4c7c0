// The token client against a real Tessera over HTTPS with its private CA: tokens obtained with a
// secret, a private key and a certificate are accepted by `jose.jwtVerify` with
// `createRemoteJWKSet`; the server's refusals arrive with their error and error_code; and
// `openid-client`, an independent client, gets a token from the same discovery document.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { send } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTokenClient, type TokenClient, type TokenClientError, type TokenClientOptions } from '../src/index.ts';

/** A fetch for jose and openid-client that trusts only the test server's CA. */
function fetchTrusting(ca: string) {
  return async (url: string, init: { method?: string; headers?: Headers | Record<string, string>; body?: unknown } = {}): Promise<Response> => {
    const headers = init.headers instanceof Headers ? Object.fromEntries(init.headers) : init.headers;
    const body = init.body === undefined || init.body === null ? undefined : init.body instanceof Uint8Array ? Buffer.from(init.body) : String(init.body);
    const res = await send(url, { method: init.method, headers, body, ca });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
    return new Response(res.text, { status: res.status, headers: responseHeaders });
  };
}

describe('token client against a real Tessera', () => {
  let t: TestServer;
  let secret: string;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clients: TokenClient[] = [];
  const start = (options: Partial<TokenClientOptions> = {}): TokenClient => {
    const client = createTokenClient({ issuer: t.url, ca: t.ca, credentials: { clientId: 'alpha.api', clientSecret: secret }, ...options });
    clients.push(client);
    return client;
  };
  const verify = async (token: string, audience = 'beta'): Promise<JWTPayload> => {
    const jwks = createRemoteJWKSet(new URL(`${t.url}/oauth2/keys`), { [customFetch]: fetchTrusting(t.ca) });
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: t.url, audience, typ: 'at+jwt', algorithms: ['ES256'] });
    assert.equal(protectedHeader.typ, 'at+jwt');
    return payload;
  };

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api', secret: true, publicKeys: [{ kid: 'k1', pem }] });
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret;
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'idle', secret: true })).status, 201);
    for (const role of ['readers', 'writers']) {
      assert.equal((await t.admin$('PUT', `/domains/beta/roles/${role}`, { members: [{ principal: 'alpha.api' }] })).status, 201);
    }
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await t.stop();
  });

  it('gets a token with a client secret (issuer discovery) that jose.jwtVerify accepts through createRemoteJWKSet', async () => {
    const token = await start().getAccessToken({ scope: 'beta:domain' });
    const claims = await verify(token);
    assert.equal(claims.aud, 'beta');
    assert.deepEqual(claims['scp'], ['readers', 'writers']);
    assert.equal(claims.sub, 'alpha.api');
    assert.equal(claims['client_id'], 'alpha.api');
  });

  it('gets a token with a private key (private_key_jwt) that jose.jwtVerify accepts', async () => {
    const client = start({
      tokenEndpoint: `${t.url}/oauth2/token`,
      issuer: undefined,
      credentials: { clientId: 'alpha.api', privateKey: key.privateKey, kid: 'k1' },
    });
    const first = await client.getAccessToken({ domain: 'beta', roles: ['readers'] });
    const claims = await verify(first);
    assert.deepEqual(claims['scp'], ['readers']);
    // The server keeps every assertion jti single-use: a second request must carry a new one.
    const second = await client.getAccessToken({ domain: 'beta', roles: ['readers'] }, { forceRefresh: true });
    assert.notEqual(second, first);
    await verify(second);
  });

  it('asks for the lifetime it is given', async () => {
    const claims = decodeJwt(await start().getAccessToken({ domain: 'beta', expiresIn: 300 }));
    assert.equal(claims.exp! - claims.iat!, 300);
  });

  describe("refusals keep the server's error and error_code", () => {
    const cases: [string, () => Promise<string>, Partial<TokenClientError>][] = [
      [
        'a wrong secret',
        () => start({ credentials: { clientId: 'alpha.api', clientSecret: 'wrong' } }).getAccessToken({ scope: 'beta:domain' }),
        { status: 401, error: 'invalid_client', errorCode: 'AUTH_101' },
      ],
      [
        'an unregistered key',
        () =>
          start({
            credentials: { clientId: 'alpha.api', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, kid: 'k1' },
          }).getAccessToken({ scope: 'beta:domain' }),
        { status: 401, error: 'invalid_client', errorCode: 'AUTH_101' },
      ],
      ['a malformed scope', () => start().getAccessToken({ scope: 'beta:role.' }), { status: 400, error: 'invalid_scope' }],
      ['an unknown domain', () => start().getAccessToken({ scope: 'nowhere:domain' }), { status: 404, error: 'invalid_scope' }],
      [
        'no role held',
        async () => {
          const idle = await t.admin$('POST', '/domains/alpha/services/idle/secrets', {});
          return start({ credentials: { clientId: 'alpha.idle', clientSecret: idle.json.clientSecret } }).getAccessToken({ scope: 'beta:domain' });
        },
        { status: 403, error: 'access_denied' },
      ],
    ];
    for (const [name, call, expected] of cases) {
      it(`surfaces ${name} as ERR_TOKEN_REJECTED ${expected.status} ${expected.error}`, async () => {
        await assert.rejects(call(), (error: TokenClientError) => {
          assert.equal(error.code, 'ERR_TOKEN_REJECTED', error.message);
          assert.equal(error.status, expected.status);
          assert.equal(error.error, expected.error);
          assert.equal(error.errorCode, expected.errorCode);
          assert.ok(error.errorDescription, "the server's description is kept");
          assert.equal(error.attempts, 1);
          return true;
        });
      });
    }
  });

  it('lets openid-client obtain a token with client_credentials from the same discovery document', async () => {
    const config = await oidc.discovery(new URL(t.url), 'alpha.api', secret, oidc.ClientSecretBasic(secret), { [oidc.customFetch]: fetchTrusting(t.ca) });
    assert.equal(config.serverMetadata().token_endpoint, `${t.url}/oauth2/token`);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'beta:domain' });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const claims = await verify(tokens.access_token);
    assert.deepEqual(claims['scp'], ['readers', 'writers']);
  });

  it('gets a certificate-bound token with a Tessera service certificate (tls_client_auth)', async () => {
    const metadata = await t.send('/.well-known/oauth-authorization-server');
    assert.ok((metadata.json.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sdk-mtls-'));
    try {
      const keyPath = join(dir, 'key.pem');
      writeFileSync(keyPath, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const csr = execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', '/CN=alpha.api'], { encoding: 'utf8' });
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('alpha.api')
        .setSubject('alpha.api')
        .setAudience(`${t.url}/ca/v1/certificates`)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomUUID())
        .sign(key.privateKey);
      const issued = await t.send('/ca/v1/certificates', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr, proof: { type: 'key-assertion', value: assertion } }),
      });
      assert.equal(issued.status, 201, issued.text);
      const certificate = issued.json.certificate as string;
      const client = start({ credentials: { certificate: certificate + issued.json.chain, key: readFileSync(keyPath, 'utf8') } });
      const claims = await verify(await client.getAccessToken({ scope: 'beta:domain' }));
      const thumbprint = createHash('sha256').update(new X509Certificate(certificate).raw).digest('base64url');
      assert.deepEqual(claims['cnf'], { 'x5t#S256': thumbprint });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

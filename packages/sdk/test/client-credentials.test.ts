// What each kind of credential puts on the token request, discovery of the token endpoint, and
// the clear errors for options that cannot work.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { createTokenClient, type TokenClient, type TokenClientError, type TokenClientOptions } from '../src/index.ts';
import { ENDPOINT, fakeFetchServer, tokenAnswer, type FakeFetchServer } from '@tessera/testkit/token-server';

const SCOPE = { scope: 'beta:domain' };

describe('token client credentials', () => {
  const clients: TokenClient[] = [];
  const start = (server: FakeFetchServer, options: Partial<TokenClientOptions>): TokenClient => {
    const client = createTokenClient({
      tokenEndpoint: ENDPOINT,
      credentials: { clientId: 'alpha.api', clientSecret: 's3cret' },
      fetch: server.fetch,
      ...options,
    });
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  it('sends a client secret with HTTP Basic, both halves form-encoded (RFC 6749 §2.3.1)', async () => {
    const server = fakeFetchServer();
    await start(server, { credentials: { clientId: 'svc:odd id', clientSecret: 'p@ss word/+' } }).getAccessToken({ scope: 'beta:domain', expiresIn: 600 });
    const [request] = server.requests;
    assert.equal(request!.method, 'POST');
    assert.equal(request!.url, ENDPOINT);
    assert.equal(request!.headers['content-type'], 'application/x-www-form-urlencoded');
    const decoded = Buffer.from(request!.headers['authorization']!.replace(/^Basic /, ''), 'base64').toString();
    assert.equal(decoded, 'svc%3Aodd+id:p%40ss+word%2F%2B');
    assert.deepEqual(Object.fromEntries(request!.form), { grant_type: 'client_credentials', scope: 'beta:domain', expires_in: '600' });
  });

  it('sends a client secret in the body with client_secret_post', async () => {
    const server = fakeFetchServer();
    await start(server, { credentials: { clientId: 'alpha.api', clientSecret: 's3cret', method: 'client_secret_post' } }).getAccessToken(SCOPE);
    const [request] = server.requests;
    assert.equal(request!.headers['authorization'], undefined);
    assert.equal(request!.form.get('client_id'), 'alpha.api');
    assert.equal(request!.form.get('client_secret'), 's3cret');
  });

  it('gives up on a fetch that does not answer within requestTimeoutMs', async () => {
    const server = fakeFetchServer(() => new Promise(() => {}));
    await assert.rejects(start(server, { requestTimeoutMs: 50, retry: { maxAttempts: 1 } }).getAccessToken(SCOPE), (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_NETWORK');
      assert.match(error.message, /no answer \(The operation was aborted due to timeout\)/);
      return true;
    });
  });

  describe('private_key_jwt', () => {
    const keys = {
      ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
      EdDSA: generateKeyPairSync('ed25519'),
      RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    };
    for (const [alg, pair] of Object.entries(keys)) {
      it(`signs a fresh assertion per request with ${alg}, chosen from the key`, async () => {
        const server = fakeFetchServer();
        const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const client = start(server, { credentials: { clientId: 'alpha.api', privateKey: pem, kid: 'k1' } });
        await client.getAccessToken(SCOPE);
        await client.getAccessToken(SCOPE, { forceRefresh: true });
        const jtis = new Set<unknown>();
        for (const request of server.requests) {
          assert.equal(request.headers['authorization'], undefined);
          assert.equal(request.form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
          const assertion = request.form.get('client_assertion')!;
          assert.deepEqual(decodeProtectedHeader(assertion), { alg, kid: 'k1' });
          const { payload } = await jwtVerify(assertion, pair.publicKey, {
            issuer: 'alpha.api',
            subject: 'alpha.api',
            audience: ENDPOINT,
            algorithms: [alg],
            maxTokenAge: 120,
          });
          assert.ok(payload.exp! - payload.iat! <= 300, 'short-lived');
          jtis.add(payload.jti);
        }
        assert.equal(jtis.size, 2, 'every request carries a new jti');
      });
    }

    it('mints a new assertion for every retry, since a jti is single-use', async () => {
      const server = fakeFetchServer((request) => (request.n === 1 ? { status: 503 } : tokenAnswer(request)));
      const client = start(server, { credentials: { clientId: 'alpha.api', privateKey: keys.ES256.privateKey, kid: 'k1' }, retry: { baseDelayMs: 1 } });
      await client.getAccessToken(SCOPE);
      const [first, second] = server.requests.map((request) => request.form.get('client_assertion'));
      assert.notEqual(first, second);
    });

    it('uses the alg it is given', async () => {
      const server = fakeFetchServer();
      await start(server, { credentials: { clientId: 'alpha.api', privateKey: keys.RS256.privateKey, kid: 'r', alg: 'PS256' } }).getAccessToken(SCOPE);
      assert.equal(decodeProtectedHeader(server.requests[0]!.form.get('client_assertion')!).alg, 'PS256');
    });
  });

  describe('discovery', () => {
    const ISSUER = 'https://tessera.test';
    const metadataServer = (metadata: Record<string, unknown> | undefined): FakeFetchServer =>
      fakeFetchServer((request) => {
        if (request.url.endsWith('/.well-known/oauth-authorization-server'))
          return metadata ? { body: metadata } : { status: 404, body: { error: 'not_found' } };
        if (request.url.endsWith('/.well-known/openid-configuration')) return { body: { issuer: ISSUER, token_endpoint: `${ISSUER}/zts/v1/oauth2/token` } };
        return tokenAnswer(request);
      });

    it('reads the token endpoint from the issuer metadata once, and uses it as the assertion audience', async () => {
      const server = metadataServer({ issuer: ISSUER, token_endpoint: `${ISSUER}/oauth2/token` });
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const client = start(server, { tokenEndpoint: undefined, issuer: ISSUER, credentials: { clientId: 'alpha.api', privateKey, kid: 'k1' } });
      await Promise.all([client.getAccessToken(SCOPE), client.getAccessToken({ scope: 'gamma:domain' })]);
      assert.deepEqual(
        server.requests.map((request) => `${request.method} ${request.url}`),
        [`GET ${ISSUER}/.well-known/oauth-authorization-server`, `POST ${ISSUER}/oauth2/token`, `POST ${ISSUER}/oauth2/token`],
      );
      const assertion = server.requests[1]!.form.get('client_assertion')!;
      assert.equal(JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()).aud, `${ISSUER}/oauth2/token`);
    });

    it('falls back to OpenID Connect discovery when RFC 8414 metadata is missing', async () => {
      const server = metadataServer(undefined);
      await start(server, { tokenEndpoint: undefined, issuer: `${ISSUER}/` }).getAccessToken(SCOPE);
      assert.equal(server.requests.at(-1)!.url, `${ISSUER}/zts/v1/oauth2/token`);
    });

    it('refuses metadata that names another issuer, so credentials never go elsewhere', async () => {
      const server = metadataServer({ issuer: 'https://evil.test', token_endpoint: 'https://evil.test/token' });
      await assert.rejects(start(server, { tokenEndpoint: undefined, issuer: ISSUER }).getAccessToken(SCOPE), (error: TokenClientError) => {
        assert.equal(error.code, 'ERR_DISCOVERY_FAILED');
        assert.match(error.message, /names the issuer "https:\/\/evil\.test", not "https:\/\/tessera\.test"; check the issuer URL or give tokenEndpoint/);
        return true;
      });
      assert.equal(server.requests.filter((request) => request.method === 'POST').length, 0);
    });

    it('tries discovery again on the next call after it failed', async () => {
      let down = true;
      const server = fakeFetchServer((request) => {
        if (request.method === 'GET') return down ? { status: 404 } : { body: { issuer: ISSUER, token_endpoint: `${ISSUER}/oauth2/token` } };
        return tokenAnswer(request);
      });
      const client = start(server, { tokenEndpoint: undefined, issuer: ISSUER });
      await assert.rejects(client.getAccessToken(SCOPE), { code: 'ERR_DISCOVERY_FAILED' });
      down = false;
      assert.equal(await client.getAccessToken(SCOPE), 'token-4');
    });
  });

  describe('bad options and requests', () => {
    const base = { tokenEndpoint: ENDPOINT, credentials: { clientId: 'alpha.api', clientSecret: 's' } };
    const cases: [string, unknown, RegExp][] = [
      ['neither endpoint nor issuer', { credentials: base.credentials }, /give exactly one of tokenEndpoint .* or issuer/],
      ['both endpoint and issuer', { ...base, issuer: 'https://x.test' }, /give exactly one of tokenEndpoint/],
      ['an endpoint that is no URL', { ...base, tokenEndpoint: 'tessera/token' }, /tokenEndpoint is not a URL: "tessera\/token"/],
      ['a non-http endpoint', { ...base, tokenEndpoint: 'ftp://x.test/token' }, /must be an https: \(or http:\) URL, not ftp:/],
      ['no credentials', { tokenEndpoint: ENDPOINT }, /credentials are required/],
      ['unknown credentials', { ...base, credentials: { user: 'x' } }, /credentials must hold \{ clientId, clientSecret \}/],
      ['an empty secret', { ...base, credentials: { clientId: 'a.b', clientSecret: '' } }, /clientSecret must be a non-empty string/],
      [
        'an unknown secret method',
        { ...base, credentials: { clientId: 'a.b', clientSecret: 'x', method: 'none' } },
        /method must be client_secret_basic or client_secret_post, not none/,
      ],
      [
        'an unreadable private key',
        { ...base, credentials: { clientId: 'a.b', privateKey: 'not a key', kid: 'k' } },
        /privateKey is not a readable PEM private key/,
      ],
      [
        'a public key as private key',
        { ...base, credentials: { clientId: 'a.b', privateKey: generateKeyPairSync('ed25519').publicKey, kid: 'k' } },
        /must be a private key/,
      ],
      [
        'a private key without kid',
        { ...base, credentials: { clientId: 'a.b', privateKey: generateKeyPairSync('ed25519').privateKey } },
        /kid must name the registered key/,
      ],
      // The server registers P-256, P-384, Ed25519 and RSA of 2048 to 8192 bits: an assertion of any other key is never accepted.
      [
        'a P-521 key, which Tessera does not register',
        { ...base, credentials: { clientId: 'a.b', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey, kid: 'k' } },
        /privateKey is an EC key on secp521r1, which Tessera does not register: use a P-256, P-384, Ed25519 or RSA \(2048 to 8192 bits, public exponent 65537\) key/,
      ],
      [
        'a P-521 key even with an explicit alg',
        { ...base, credentials: { clientId: 'a.b', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey, kid: 'k', alg: 'ES512' } },
        /secp521r1, which Tessera does not register/,
      ],
      [
        'a 1024-bit RSA key',
        { ...base, credentials: { clientId: 'a.b', privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, kid: 'k' } },
        /a 1024-bit RSA key, which Tessera does not register/,
      ],
      [
        'a certificate without key',
        { ...base, credentials: { certificate: '-----BEGIN CERTIFICATE-----' } },
        /credentials.key is required with a fixed certificate/,
      ],
      [
        'a certificate that is not PEM',
        { ...base, credentials: { certificate: 'nope', key: 'nope' } },
        /the client certificate is not a readable PEM certificate/,
      ],
      ['a bad retry bound', { ...base, retry: { maxAttempts: 0 } }, /retry.maxAttempts must be a whole number ≥ 1/],
      ['a negative rejection TTL', { ...base, rejectionTtlMs: -1 }, /rejectionTtlMs must be a number of milliseconds ≥ 0/],
    ];
    for (const [name, options, message] of cases) {
      it(`refuses ${name} with a TypeError saying what to fix`, () => {
        assert.throws(
          () => createTokenClient(options as TokenClientOptions),
          (error: Error) => error instanceof TypeError && message.test(error.message),
        );
      });
    }

    const requests: [string, unknown, RegExp][] = [
      ['an empty scope', { scope: '  ' }, /scope is empty: name at least one item/],
      ['a scope that is not a string', { scope: ['beta:domain'] }, /scope must be a string/],
      ['both scope and domain', { scope: 'a:domain', domain: 'a' }, /give either scope or domain, not both/],
      ['a domain with a colon', { domain: 'a:b' }, /domain must be a domain name/],
      ['an empty role list', { domain: 'a', roles: [] }, /roles must be a non-empty array/],
      ['a role with a space', { domain: 'a', roles: ['x y'] }, /role names must be non-empty and hold no spaces or colons: "x y"/],
      ['a fractional lifetime', { scope: 'a:domain', expiresIn: 1.5 }, /expiresIn must be a positive whole number of seconds, not 1.5/],
      ['no request at all', undefined, /getAccessToken needs \{ scope \} or \{ domain, roles\? \}/],
    ];
    it('judges every request on its own, even next to a cached look-alike', async () => {
      const client = start(fakeFetchServer(), {});
      await client.getAccessToken({ domain: 'beta', roles: ['readers', '1'] });
      await client.getAccessToken({ domain: 'beta' });
      await assert.rejects(client.getAccessToken({ domain: 'beta', roles: ['readers', 1] } as never), /role names must be non-empty/);
      await assert.rejects(client.getAccessToken({ domain: 'beta', roles: 'undefined' } as never), /roles must be a non-empty array/);
      await assert.rejects(client.getAccessToken({ domain: { toString: () => 'beta' } } as never), /domain must be a domain name/);
    });

    for (const [name, request, message] of requests) {
      it(`rejects a request with ${name}, without contacting the server`, async () => {
        const server = fakeFetchServer();
        const client = start(server, {});
        await assert.rejects(client.getAccessToken(request as never), (error: Error) => error instanceof TypeError && message.test(error.message));
        assert.equal(server.requests.length, 0);
      });
    }
  });
});

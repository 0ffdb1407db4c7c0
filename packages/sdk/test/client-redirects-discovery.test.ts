// The token client's credentials stay where they were configured: a 3xx from the token endpoint is
// an error that names the redirect (with the built-in transport and with a caller's fetch), the
// issuer's metadata may name a plain-http token_endpoint only on loopback, and a private_key_jwt
// key the server would refuse (an RSA exponent below 65537) is refused at construction.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createTokenClient, TokenClientError } from '../src/index.ts';

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const credentials = { clientId: 'alpha.api', clientSecret: 'redirect-test-secret', method: 'client_secret_post' } as const;

async function failure(promise: Promise<unknown>): Promise<TokenClientError> {
  const error = await promise.then(
    () => undefined,
    (cause: unknown) => cause,
  );
  assert.ok(error instanceof TokenClientError, `expected a TokenClientError, got ${String(error)}`);
  return error;
}

describe('token endpoint redirects', () => {
  for (const transport of ['the built-in transport', 'a caller fetch'] as const) {
    it(`a 307 is an error naming the redirect, with ${transport}`, async () => {
      const url = await listen((req, res) => {
        req.resume();
        res.writeHead(307, { location: 'http://127.0.0.1:9/collect' }).end();
      });
      const client = createTokenClient({
        tokenEndpoint: `${url}/oauth2/token`,
        credentials,
        retry: { maxAttempts: 1 },
        ...(transport === 'a caller fetch' ? { fetch: (input: string, init: RequestInit) => fetch(input, init) } : {}),
      });
      const error = await failure(client.getAccessToken({ domain: 'beta' }));
      await client.close();
      assert.equal(error.code, 'ERR_TOKEN_REJECTED');
      assert.equal(error.status, 307);
      assert.match(
        error.message,
        /redirect \(307 to http:\/\/127\.0\.0\.1:9\/collect\), which is not followed because the request carries the client's credentials/,
      );
    });
  }

  it('a fetch that follows redirects anyway gets no token from the answer', async () => {
    const url = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 60 }));
    });
    const following = async (input: string, init: RequestInit): Promise<Response> => {
      const response = await fetch(input, { ...init, redirect: 'follow' });
      Object.defineProperty(response, 'redirected', { value: true });
      return response;
    };
    const client = createTokenClient({ tokenEndpoint: `${url}/oauth2/token`, credentials, retry: { maxAttempts: 1 }, fetch: following });
    const error = await failure(client.getAccessToken({ domain: 'beta' }));
    await client.close();
    assert.match(error.message, /redirect \(307\), which is not followed/);
  });
});

describe('token_endpoint from the issuer metadata', () => {
  async function issuerNaming(tokenEndpoint: (issuer: string) => string): Promise<string> {
    let issuer = '';
    issuer = await listen((req, res) => {
      if (req.url?.startsWith('/.well-known/')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, token_endpoint: tokenEndpoint(issuer) }));
        return;
      }
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'tok', token_type: 'Bearer', expires_in: 60 }));
    });
    return issuer;
  }

  it('refuses plain http to a host that is not loopback, saying why', async () => {
    const issuer = await issuerNaming(() => 'http://tessera.example/oauth2/token');
    const client = createTokenClient({ issuer, credentials, retry: { maxAttempts: 1 } });
    const error = await failure(client.getAccessToken({ domain: 'beta' }));
    await client.close();
    assert.equal(error.code, 'ERR_DISCOVERY_FAILED');
    assert.match(error.message, /token_endpoint http:\/\/tessera\.example\/oauth2\/token, plain http to a host that is not loopback/);
  });

  it('takes plain http to loopback', async () => {
    const issuer = await issuerNaming((self) => `${self}/oauth2/token`);
    const client = createTokenClient({ issuer, credentials, retry: { maxAttempts: 1 } });
    assert.equal((await client.getAccessToken({ domain: 'beta' })).length > 0, true);
    await client.close();
  });
});

describe('private_key_jwt keys the server refuses', () => {
  it('an RSA key with public exponent 3 is a TypeError naming the exponent', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    assert.throws(
      () => createTokenClient({ tokenEndpoint: 'https://tessera.example/oauth2/token', credentials: { clientId: 'alpha.api', kid: 'k1', privateKey } }),
      (error: unknown) => error instanceof TypeError && /2048-bit RSA key with public exponent 3, which Tessera does not register/.test(error.message),
    );
  });

  it('an RSA key with public exponent 65537 is taken', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const client = createTokenClient({ tokenEndpoint: 'https://tessera.example/oauth2/token', credentials: { clientId: 'alpha.api', kid: 'k1', privateKey } });
    void client.close();
  });
});

describe('the SDK key table and RSA exponents', () => {
  it('refuses an even exponent, even one above 65537', async () => {
    const { createPublicKey } = await import('node:crypto');
    const { keyTypeOf } = await import('../src/certificates/keys.ts');
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const even = createPublicKey({ key: { ...jwk, e: Buffer.from([1, 0, 2]).toString('base64url') }, format: 'jwk' });
    assert.equal(even.asymmetricKeyDetails?.publicExponent, 65_538n);
    assert.equal(keyTypeOf(even), undefined);
  });
});

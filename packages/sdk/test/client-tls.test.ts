// The token client over real TLS sockets: the server trusted through a private CA, single flight
// on the wire, and certificate credentials (the token request presents the client certificate;
// a new certificate means new tokens).

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTokenClient, type CertificateMaterial, type TokenClient, type TokenClientError, type TokenClientOptions } from '../src/index.ts';
import { createTestPki, type Pem, type TestPki } from '@tessera/testkit/pki';
import { startFakeHttpServer, tokenAnswer, type FakeHttpServer } from '@tessera/testkit/token-server';
import { waitFor } from './helpers/turns.ts';

const SCOPE = { scope: 'beta:domain' };

describe('token client over TLS', () => {
  let pki: TestPki;
  let server: FakeHttpServer;
  let first: Pem;
  let second: Pem;
  const clients: TokenClient[] = [];
  const fingerprint = (pem: Pem): string => new X509Certificate(pem.cert).fingerprint256;
  const start = (options: Partial<TokenClientOptions>): TokenClient => {
    const client = createTokenClient({
      tokenEndpoint: `${server.url}/oauth2/token`,
      ca: pki.ca.cert,
      credentials: { certificate: first.cert, key: first.key },
      ...options,
    });
    clients.push(client);
    return client;
  };

  before(async () => {
    pki = createTestPki();
    first = pki.client('alpha.api');
    second = pki.client('alpha.api');
    server = await startFakeHttpServer((request) => tokenAnswer(request), {
      cert: pki.server.cert,
      key: pki.server.key,
      ca: pki.ca.cert,
      requestCert: true,
      rejectUnauthorized: false, // secret credentials come without a certificate
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    server.requests.length = 0;
  });
  after(async () => {
    await server.close();
    pki.dispose();
  });

  it('presents the client certificate on the token request and names the principal from its CN', async () => {
    assert.equal(await start({}).getAccessToken(SCOPE), 'token-1');
    const [request] = server.requests;
    assert.equal(request!.clientCertificate, fingerprint(first));
    assert.equal(request!.form.get('client_id'), 'alpha.api');
    assert.equal(request!.headers['authorization'], undefined);
  });

  it('sends the clientId it is given instead of the CN', async () => {
    await start({ credentials: { certificate: first.cert, key: first.key, clientId: 'acct-1234' } }).getAccessToken(SCOPE);
    assert.equal(server.requests[0]!.form.get('client_id'), 'acct-1234');
  });

  it('fails with ERR_TOKEN_NETWORK when the server certificate is not trusted (no ca)', async () => {
    await assert.rejects(start({ ca: undefined, retry: { maxAttempts: 1 } }).getAccessToken(SCOPE), (error: TokenClientError) => {
      assert.equal(error.code, 'ERR_TOKEN_NETWORK');
      assert.match(error.message, /no answer \(.*certificate.*\)/);
      return true;
    });
    assert.equal(server.requests.length, 0);
  });

  it('fetches a new token when the certificate returned by the function changes', async () => {
    let current: CertificateMaterial = first;
    const client = start({ credentials: { certificate: () => current } });
    assert.equal(await client.getAccessToken(SCOPE), 'token-1');
    assert.equal(await client.getAccessToken(SCOPE), 'token-1');
    current = second;
    assert.equal(await client.getAccessToken(SCOPE), 'token-2', 'a token bound to the old certificate is not served');
    assert.deepEqual(
      server.requests.map((request) => request.clientCertificate),
      [fingerprint(first), fingerprint(second)],
    );
  });

  it('fetches the tokens in use again, with the new certificate, when the source says "renewed"', async () => {
    const refresher = Object.assign(new EventEmitter(), {
      material: first as CertificateMaterial,
      current(): CertificateMaterial {
        return this.material;
      },
    });
    const client = start({ credentials: { certificate: refresher } });
    await client.getAccessToken(SCOPE);
    await client.getAccessToken({ scope: 'gamma:domain' });
    refresher.material = second;
    refresher.emit('renewed');
    await waitFor(() => server.requests.length === 4);
    assert.deepEqual(
      server.requests.slice(2).map((request) => request.clientCertificate),
      [fingerprint(second), fingerprint(second)],
    );
    assert.deepEqual(new Set([await client.getAccessToken(SCOPE), await client.getAccessToken({ scope: 'gamma:domain' })]), new Set(['token-3', 'token-4']));
    assert.equal(server.requests.length, 4, 'the new tokens come from the cache');
    await client.close();
    assert.equal(refresher.listenerCount('renewed'), 0, 'close() detaches from the source');
  });

  it('sends one request over the wire for 100 concurrent misses', async () => {
    const client = start({ credentials: { clientId: 'alpha.api', clientSecret: 's3cret' } });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client.getAccessToken({ scope: 'beta:role.readers' })));
    assert.deepEqual(new Set(tokens), new Set(['token-1']));
    assert.equal(server.requests.length, 1);
    assert.match(server.requests[0]!.headers['authorization']!, /^Basic /);
  });

  it('gives up on a server that does not answer within requestTimeoutMs', async () => {
    server.handler = () => new Promise(() => {});
    try {
      await assert.rejects(start({ requestTimeoutMs: 100, retry: { maxAttempts: 1 } }).getAccessToken(SCOPE), (error: TokenClientError) => {
        assert.equal(error.code, 'ERR_TOKEN_NETWORK');
        assert.match(error.message, /no answer \(no answer from https:\/\/127\.0\.0\.1:\d+ within 100 ms\)/);
        return true;
      });
    } finally {
      server.handler = (request) => tokenAnswer(request);
    }
  });

  it('refuses a custom fetch with certificate credentials, which it could not present', () => {
    assert.throws(() => start({ fetch: async () => new Response() }), /certificate credentials need the built-in HTTPS client: remove the fetch option/);
  });

  it('reports a certificate function that throws as ERR_CREDENTIALS_UNUSABLE', async () => {
    let broken = false;
    const client = start({
      credentials: {
        certificate: () => {
          if (broken) throw new Error('certificate file missing');
          return first;
        },
      },
    });
    await client.getAccessToken(SCOPE);
    broken = true;
    await assert.rejects(client.getAccessToken(SCOPE), {
      code: 'ERR_CREDENTIALS_UNUSABLE',
      message: 'the credentials could not be used: certificate file missing',
    });
  });
});

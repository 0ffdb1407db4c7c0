// requestTokenResponse: one client_credentials request (or an RFC 8693 exchange, or one with
// proxy_for_principal), sent once, answered with the whole token response as the server sent it;
// over the built-in client or a transport of the caller's.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { requestTokenResponse, TokenClientError, type TokenTransport, type TokenTransportRequest } from '../src/index.ts';

const ENDPOINT = 'https://tessera.test/oauth2/token';

interface Sent {
  url: string;
  request: TokenTransportRequest;
}

/** A transport that records what it is asked to send and answers `status` with `body`. */
function recording(status: number, body: unknown, headers: Record<string, string> = {}): TokenTransport & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    send: async (url, request) => {
      sent.push({ url, request });
      return { status, header: (name) => headers[name], body: typeof body === 'string' ? body : JSON.stringify(body) };
    },
    close: () => {},
  };
}

const SECRET = { clientId: 'alpha.api', clientSecret: 's3cret' };

describe('requestTokenResponse', () => {
  let server: Server;
  let url: string;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ access_token: 'a.b.c', token_type: 'Bearer', expires_in: 3600, scope: 'openid beta:service.api', id_token: 'i.d.t', extra: 1 }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends one request with the built-in client and resolves with the whole response', async () => {
    const response = await requestTokenResponse({ tokenEndpoint: url, scope: 'openid beta:service.api', expiresIn: 600, credentials: SECRET });
    assert.deepEqual(response, {
      access_token: 'a.b.c',
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'openid beta:service.api',
      id_token: 'i.d.t',
      extra: 1,
    });
    assert.equal(received.length, 1);
    assert.equal(received[0]?.headers.authorization, `Basic ${Buffer.from('alpha.api:s3cret').toString('base64')}`);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(received[0]?.body)), {
      grant_type: 'client_credentials',
      scope: 'openid beta:service.api',
      expires_in: '600',
    });
  });

  it('sends through a transport of the caller, with the proof the prove function gives', async () => {
    const transport = recording(200, { access_token: 'at' });
    const calls: [string, number][] = [];
    const response = await requestTokenResponse({
      tokenEndpoint: ENDPOINT,
      scope: 'beta:domain',
      transport,
      clock: () => 1234,
      prove: (endpoint, now) => {
        calls.push([endpoint, now]);
        return { headers: { 'x-proof': 'p' }, form: { client_id: 'alpha.api' } };
      },
    });
    // Nothing is required beyond access_token: a tool shows what the server sent.
    assert.deepEqual(response, { access_token: 'at' });
    assert.deepEqual(calls, [[ENDPOINT, 1234]]);
    const [sent] = transport.sent;
    assert.equal(sent?.url, ENDPOINT);
    assert.equal(sent?.request.method, 'POST');
    assert.equal(sent?.request.headers['x-proof'], 'p');
    assert.equal(sent?.request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(sent?.request.body)), {
      grant_type: 'client_credentials',
      scope: 'beta:domain',
      client_id: 'alpha.api',
    });
  });

  it('hands the transport a failure of its own as the cause, after one attempt', async () => {
    const failure = new Error('no route');
    let attempts = 0;
    const transport: TokenTransport = {
      send: async () => {
        attempts++;
        throw failure;
      },
      close: () => {},
    };
    await assert.rejects(requestTokenResponse({ tokenEndpoint: ENDPOINT, scope: 'beta:domain', credentials: SECRET, transport }), (error: TokenClientError) => {
      assert.ok(error instanceof TokenClientError);
      assert.equal(error.code, 'ERR_TOKEN_NETWORK');
      assert.equal(error.cause, failure);
      return true;
    });
    assert.equal(attempts, 1);
  });

  it('does not retry a 503 and reports a refusal as the token client does', async () => {
    const unavailable = recording(503, { error: 'unavailable' });
    await assert.rejects(requestTokenResponse({ tokenEndpoint: ENDPOINT, scope: 'beta:domain', credentials: SECRET, transport: unavailable }), {
      code: 'ERR_TOKEN_SERVER',
      status: 503,
      attempts: 1,
    });
    assert.equal(unavailable.sent.length, 1);
    const refused = recording(401, { error: 'invalid_client', error_description: 'bad secret' });
    await assert.rejects(requestTokenResponse({ tokenEndpoint: ENDPOINT, scope: 'beta:domain', credentials: SECRET, transport: refused }), {
      code: 'ERR_TOKEN_REJECTED',
      error: 'invalid_client',
      errorDescription: 'bad secret',
    });
  });

  it('refuses an answer without an access_token, or not JSON', async () => {
    for (const body of [{ token_type: 'Bearer' }, { access_token: '' }, '<html>', '[1]']) {
      await assert.rejects(requestTokenResponse({ tokenEndpoint: ENDPOINT, scope: 'beta:domain', credentials: SECRET, transport: recording(200, body) }), {
        code: 'ERR_TOKEN_RESPONSE_INVALID',
      });
    }
  });

  it('passes a certificate credential to the transport as the TLS identity', async () => {
    const transport = recording(200, { access_token: 'at' });
    const { createTestPki } = await import('@tessera/testkit/pki');
    const pki = createTestPki();
    try {
      const client = pki.client('alpha.api');
      await requestTokenResponse({ tokenEndpoint: ENDPOINT, scope: 'beta:domain', credentials: { certificate: client.cert, key: client.key }, transport });
      assert.deepEqual(transport.sent[0]?.request.tls, { cert: client.cert, key: client.key });
      assert.equal(new URLSearchParams(transport.sent[0]?.request.body).get('client_id'), 'alpha.api');
    } finally {
      pki.dispose();
    }
  });

  it('sends an RFC 8693 exchange with subjectToken (and impersonation), and proxy_for_principal with proxyForPrincipal', async () => {
    const transport = recording(200, { access_token: 'at', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    const base = { tokenEndpoint: ENDPOINT, scope: 'gamma:readers', credentials: SECRET, transport };
    const answer = await requestTokenResponse({ ...base, subjectToken: 'sub.ject.token', expiresIn: 60 });
    assert.equal(answer.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    await requestTokenResponse({ ...base, subjectToken: 'sub.ject.token', impersonation: true });
    await requestTokenResponse({ ...base, proxyForPrincipal: 'alpha.batch' });
    const forms = transport.sent.map((sent) => Object.fromEntries(new URLSearchParams(sent.request.body)));
    const exchange = {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'sub.ject.token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'gamma:readers',
    };
    assert.deepEqual(forms, [
      { ...exchange, expires_in: '60' },
      { ...exchange, impersonation: 'true' },
      { grant_type: 'client_credentials', scope: 'gamma:readers', proxy_for_principal: 'alpha.batch' },
    ]);
    const refused = recording(403, { error: 'access_denied', error_description: 'no role lists alpha.api among its actors' });
    await assert.rejects(
      requestTokenResponse({ ...base, transport: refused, subjectToken: 's.t.x' }),
      (error: unknown) =>
        error instanceof TokenClientError && error.error === 'access_denied' && /^token exchange at .* was refused \(403 access_denied/.test(error.message),
    );
  });

  it('says what is wrong with its options', async () => {
    const transport = recording(200, { access_token: 'at' });
    const base = { tokenEndpoint: ENDPOINT, scope: 'beta:domain', transport };
    const prove = () => ({ headers: {}, form: {} });
    await assert.rejects(requestTokenResponse({ ...base }), /give exactly one of credentials and prove/);
    await assert.rejects(requestTokenResponse({ ...base, credentials: SECRET, prove }), /give exactly one of credentials and prove/);
    await assert.rejects(requestTokenResponse({ ...base, tokenEndpoint: 'nope', prove }), /tokenEndpoint must be a URL/);
    await assert.rejects(requestTokenResponse({ ...base, scope: ' ', prove }), /scope must name what the token is for/);
    await assert.rejects(requestTokenResponse({ ...base, expiresIn: 0, prove }), /expiresIn must be a whole number of seconds > 0/);
    await assert.rejects(requestTokenResponse({ ...base, subjectToken: '', prove }), /subjectToken must be the subject's access token/);
    await assert.rejects(requestTokenResponse({ ...base, proxyForPrincipal: 'a b', prove }), /proxyForPrincipal must be a principal name/);
    await assert.rejects(requestTokenResponse({ ...base, subjectToken: 'a.b.c', proxyForPrincipal: 'alpha.api', prove }), /not both/);
    await assert.rejects(requestTokenResponse({ ...base, impersonation: true, prove }), /impersonation needs subjectToken/);
    assert.equal(transport.sent.length, 0);
  });
});

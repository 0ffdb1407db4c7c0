// The token client acting for callers (`getAccessToken({ …, onBehalfOf })`, RFC 8693 token
// exchange through the exchange client's cache) and the authenticated fetch forwarding a caller,
// against a real Tessera: the exchanged token's sub and act, one token per subject token and
// scope, refresh past half-life, the server's refusals as TokenClientErrors, bad arguments, and
// a chain A → B → C through the SDK's middleware where C sees sub A and act B.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { send } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import {
  TokenClientError,
  callerToken,
  createAuthenticatedFetch,
  createTokenClient,
  createVerifier,
  nodeAuth,
  type AuthContext,
  type TokenClient,
  type TokenClientOptions,
  type Verifier,
} from '../src/index.ts';

describe('token client on behalf of callers, against a real Tessera', () => {
  let t: TestServer;
  const secrets: Record<string, string> = {};
  const clients: TokenClient[] = [];
  const servers: Server[] = [];
  const client = (principal: string, options: Partial<TokenClientOptions> = {}): TokenClient => {
    const made = createTokenClient({ issuer: t.url, ca: t.ca, credentials: { clientId: principal, clientSecret: secrets[principal]! }, ...options });
    clients.push(made);
    return made;
  };
  /** A token of `principal` for beta (the service beta.api), as a caller of beta.api would send it. */
  const callerTokenFor = async (principal: string, expiresIn = 3600): Promise<string> => {
    const res = await t.token(principal, secrets[principal]!, { grant_type: 'client_credentials', scope: 'beta:role.readers', expires_in: String(expiresIn) });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const listen = async (server: Server): Promise<string> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta', 'gamma']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const [domain, name] of [
      ['alpha', 'api'],
      ['alpha', 'batch'],
      ['beta', 'api'],
      ['gamma', 'api'],
    ] as const) {
      const created = await t.admin$('POST', `/domains/${domain}/services`, { name, secret: true });
      assert.equal(created.status, 201, created.text);
      secrets[`${domain}.${name}`] = created.json.clientSecret as string;
    }
    const callers = [{ principal: 'alpha.api' }, { principal: 'alpha.batch' }];
    const put = async (path: string, body: unknown): Promise<void> => {
      const res = await t.admin$('PUT', path, body);
      assert.equal(res.status, 201, res.text);
    };
    await put('/domains/beta/roles/readers', { members: callers });
    // beta.api may act for the callers toward gamma's readers, not toward its writers.
    await put('/domains/gamma/roles/readers', { members: callers, actors: ['beta.api'] });
    await put('/domains/gamma/roles/writers', { members: callers });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await t.stop();
  });

  it('gets a token naming the caller as sub and this service as act.sub', async () => {
    const subject = await callerTokenFor('alpha.api');
    const token = await client('beta.api').getAccessToken({ scope: 'gamma:role.readers', onBehalfOf: subject });
    const claims = decodeJwt(token);
    assert.equal(claims.sub, 'alpha.api');
    assert.deepEqual(claims['act'], { sub: 'beta.api' });
    assert.equal(claims['client_id'], 'beta.api');
    assert.equal(claims.aud, 'gamma');
    assert.deepEqual(claims['scp'], ['readers']);
    assert.deepEqual(claims['exchanged_from'], [decodeJwt(subject).jti]);
  });

  it('caches per subject token and scope: two subjects get two tokens, one subject one request', async () => {
    let requests = 0;
    const counting: TokenClientOptions['fetch'] = async (url, init) => {
      if (url.endsWith('/oauth2/token')) requests++;
      const headers = new Headers(init.headers);
      const res = await send(url, { method: init.method, headers: Object.fromEntries(headers), body: init.body, ca: t.ca });
      return new Response(res.text, { status: res.status, headers: { 'content-type': 'application/json' } });
    };
    const b = client('beta.api', { fetch: counting, ca: undefined });
    const [fromApi, fromBatch] = [await callerTokenFor('alpha.api'), await callerTokenFor('alpha.batch')];
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: fromApi })));
    assert.equal(new Set(concurrent).size, 1, 'concurrent calls share one token');
    // The same scope in another form is the same entry.
    assert.equal(await b.getAccessToken({ domain: 'gamma', roles: ['readers'], onBehalfOf: fromApi }), concurrent[0]);
    assert.equal(requests, 1, 'one subject, one request');
    const other = await b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: fromBatch });
    assert.notEqual(other, concurrent[0]);
    assert.equal(decodeJwt(other).sub, 'alpha.batch');
    assert.equal(requests, 2, 'two subjects, two requests');
    // The service's own token for the same scope is another entry again.
    await assert.rejects(b.getAccessToken({ scope: 'gamma:readers' }), (error: unknown) => error instanceof TokenClientError && error.status === 403);
    assert.equal(requests, 3);
  });

  it('refreshes past half-life in the background, serving the cached token meanwhile', async () => {
    let now = Date.now();
    const b = client('beta.api', { clock: () => now });
    const subject = await callerTokenFor('alpha.api');
    const ask = (): Promise<string> => b.getAccessToken({ scope: 'gamma:readers', expiresIn: 600, onBehalfOf: subject });
    const first = await ask();
    assert.equal((decodeJwt(first).exp as number) - (decodeJwt(first).iat as number), 600);
    now += 200_000;
    assert.equal(await ask(), first, 'before half-life: cached');
    now += 120_000;
    assert.equal(await ask(), first, 'past half-life: still served while the refresh runs');
    let second = first;
    for (let i = 0; i < 100 && second === first; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      second = await ask();
    }
    assert.notEqual(second, first, 'the refreshed token is served');
    assert.equal(decodeJwt(second).sub, 'alpha.api');
    now += 500_000;
    const third = await ask();
    assert.notEqual(third, second, 'a token with less than a quarter of its life left is not served');
  });

  it("surfaces a refused exchange as a TokenClientError with the server's error", async () => {
    const b = client('beta.api');
    const subject = await callerTokenFor('alpha.api');
    // gamma's writers do not list beta.api among their actors.
    const denied = await b.getAccessToken({ scope: 'gamma:writers', onBehalfOf: subject }).catch((e: unknown) => e);
    assert.ok(denied instanceof TokenClientError, String(denied));
    assert.equal(denied.code, 'ERR_TOKEN_REJECTED');
    assert.equal(denied.status, 403);
    assert.equal(denied.error, 'access_denied');
    assert.match(denied.message, /token exchange at .* was refused \(403 access_denied/);
    // A token sent to beta cannot be exchanged by gamma.api, which it was never sent to.
    const stolen = await client('gamma.api')
      .getAccessToken({ scope: 'gamma:readers', onBehalfOf: subject })
      .catch((e: unknown) => e);
    assert.ok(stolen instanceof TokenClientError, String(stolen));
    assert.equal(stolen.status, 400);
    assert.equal(stolen.error, 'invalid_grant');
  });

  it('exchanges an ID token issued for this service, given as { idToken } or as the verified caller, where the role allows it', async () => {
    const res = await t.token('alpha.api', secrets['alpha.api']!, { grant_type: 'client_credentials', scope: 'openid beta:service.api beta:role.readers' });
    assert.equal(res.status, 200, res.text);
    const idToken = res.json.id_token as string;
    const b = client('beta.api');
    // gamma's readers list beta.api among their actors, but do not take ID tokens yet.
    const notYet = await b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: { idToken } }).catch((e: unknown) => e);
    assert.ok(notYet instanceof TokenClientError, String(notYet));
    assert.equal(notYet.status, 403);
    assert.match(notYet.message, /idTokenSubjects/);
    assert.equal((await t.admin$('PUT', '/domains/gamma/roles/readers', { idTokenSubjects: true })).status, 200);
    try {
      // A new client: the first one remembers the refusal for rejectionTtlMs.
      const b2 = client('beta.api');
      const token = await b2.getAccessToken({ scope: 'gamma:readers', onBehalfOf: { idToken } });
      const claims = decodeJwt(token);
      assert.equal(claims.sub, 'alpha.api');
      assert.deepEqual(claims.act, { sub: 'beta.api' });
      assert.equal(claims['exchanged_from_id_token'], true);
      // Cached per subject token, type and scope: the same ID token again costs no request.
      assert.equal(await b2.getAccessToken({ scope: 'gamma:readers', onBehalfOf: { idToken } }), token);

      const verifier = createVerifier({ issuer: t.url, ca: t.ca, audience: 'beta.api', tokenType: 'id_token' });
      const caller = await verifier.verify(idToken);
      assert.equal(caller.kind, 'id_token');
      assert.equal(callerToken(caller), idToken, 'the verifier keeps the ID token the caller presented');
      assert.equal(await b2.getAccessToken({ scope: 'gamma:readers', onBehalfOf: caller }), token, 'the same exchange, from the cache');
      // As an access token, the same ID token is refused by the server (the wrong type).
      const asAccess = await b2.getAccessToken({ scope: 'gamma:readers', onBehalfOf: idToken }).catch((e: unknown) => e);
      assert.ok(asAccess instanceof TokenClientError, String(asAccess));
      assert.equal(asAccess.error, 'invalid_request');
      await assert.rejects(
        b2.getAccessToken({ scope: 'gamma:readers', onBehalfOf: { idToken: 5 } as unknown as { idToken: string } }),
        /\{ idToken \} must hold the ID token/,
      );
    } finally {
      assert.equal((await t.admin$('PUT', '/domains/gamma/roles/readers', { idTokenSubjects: false })).status, 200);
    }
  });

  it('refuses a missing or unusable caller before any request', async () => {
    const b = client('beta.api', { fetch: () => assert.fail('no request expected') as never, ca: undefined });
    await assert.rejects(b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: undefined }), /onBehalfOf is undefined/);
    await assert.rejects(b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: 'two words' }), /subjectToken must be/);
    await assert.rejects(b.getAccessToken({ scope: ' ', onBehalfOf: 'a.b.c' }), /scope is empty/);
    const handMade = { kind: 'access_token', principal: 'alpha.api', actors: [] } as unknown as AuthContext;
    await assert.rejects(b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: handMade }), /not made from an access token by this SDK/);
    const apiKeyCaller = { kind: 'api_key', principal: 'alpha.api', actors: [] } as unknown as AuthContext;
    await assert.rejects(b.getAccessToken({ scope: 'gamma:readers', onBehalfOf: apiKeyCaller }), /API key, which cannot be exchanged/);
    const callB = createAuthenticatedFetch(b, { scope: 'gamma:readers' });
    await assert.rejects(callB('http://127.0.0.1:9/', { onBehalfOf: undefined }), /onBehalfOf is undefined/);
    assert.throws(() => createAuthenticatedFetch(b, { scope: 'gamma:readers', onBehalfOf: undefined }), /onBehalfOf is undefined/);
  });

  it('forwards a caller through middleware and fetch: A → B → C, and C sees sub A and act B', async () => {
    const verifierFor = (audience: string): Verifier => createVerifier({ issuer: t.url, audience, ca: t.ca });
    const protectC = nodeAuth(verifierFor('gamma'));
    const cUrl = await listen(
      createServer(
        protectC(
          (_req, res, caller) => {
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ principal: caller.principal, actors: caller.actors, act: caller.claims['act'], clientId: caller.clientId }));
          },
          { scope: ['gamma:role.readers'] },
        ),
      ),
    );

    const callC = createAuthenticatedFetch(client('beta.api'), { scope: 'gamma:role.readers' });
    const protectB = nodeAuth(verifierFor('beta'));
    const seenByB: AuthContext[] = [];
    const bUrl = await listen(
      createServer(
        protectB(
          async (_req, res, caller) => {
            seenByB.push(caller);
            const fromC = await callC(`${cUrl}/items`, { onBehalfOf: caller });
            res.statusCode = fromC.status;
            res.end(await fromC.text());
          },
          { scope: ['beta:role.readers'] },
        ),
      ),
    );

    const callB = createAuthenticatedFetch(client('alpha.api'), { scope: 'beta:role.readers' });
    const res = await callB(`${bUrl}/orders`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { principal: 'alpha.api', actors: ['beta.api'], act: { sub: 'beta.api' }, clientId: 'beta.api' });
    // B's caller context carries A's token for the exchange, but does not show it.
    assert.equal(typeof callerToken(seenByB[0]!), 'string');
    assert.ok(!JSON.stringify(seenByB[0]).includes(callerToken(seenByB[0]!)!));
  });
});

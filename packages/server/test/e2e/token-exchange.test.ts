// RFC 8693 token exchange and Athenz's proxy_for_principal, end to end over real HTTPS
// (docs/tokens.md, Token exchange). app.web (A) calls gw.edge (B), which calls mid.svc (C),
// which calls back.svc (D), which calls orders: each hop exchanges the token it received for one
// toward the next domain. Roles name who may act for their members in `actors`.

import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { accessTokenClaims, signAccessToken } from '../../src/oauth2/tokens.ts';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic, introspectAs, startTestServer, type TestServer, testRegistry } from '@tessera/testkit/server';
import { newKeys, postForm, publicKeyPem, tesseraCertificate } from './mtls-support.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const ID = 'urn:ietf:params:oauth:token-type:id_token';
const SAML = 'urn:ietf:params:oauth:token-type:saml2';
const REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token';
const A = 'app.web';
const B = 'gw.edge';
const C = 'mid.svc';
const D = 'back.svc';
const E = 'back.extra';
/** A gateway: in front of orders, in a domain of its own. */
const G = 'edge.gate';

/** A fetch for jose and openid-client that trusts only the test server's CA. */
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

function assertError(res: TestResponse, status: number, error: string, description: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.error_description, description);
  assert.equal(res.headers['cache-control'], 'no-store');
}

describe('token exchange (RFC 8693) and proxy_for_principal', () => {
  let t: TestServer;
  let offset = 0;
  const { secrets, createService, putRole } = testRegistry(() => t);
  const rs = { id: 'app.rs', secret: '' };

  const tokenOf = async (principal: string, scope: string, extra: Record<string, string> = {}): Promise<string> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope, ...extra });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  const exchange = (actor: string, subjectToken: string | undefined, params: Record<string, string> = {}): Promise<TestResponse> =>
    t.token(actor, secrets.get(actor)!, {
      grant_type: GRANT,
      ...(subjectToken === undefined ? {} : { subject_token: subjectToken, subject_token_type: AT }),
      ...params,
    });
  const exchanged = async (actor: string, subjectToken: string, scope: string, params: Record<string, string> = {}): Promise<string> => {
    const res = await exchange(actor, subjectToken, { scope, ...params });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  /** A → B → C → D: each hop's token, the last one toward `finalScope`. */
  const chain = async (finalScope = 'orders:domain'): Promise<{ a: string; b: string; c: string; d: string }> => {
    const a = await tokenOf(A, 'gw:domain');
    const b = await exchanged(B, a, 'mid:domain');
    const c = await exchanged(C, b, 'back:domain');
    const d = await exchanged(D, c, finalScope);
    return { a, b, c, d };
  };
  /** A token of A's signed by this server's key with `extra` claims (what the endpoint never issues). */
  const craftedToken = (extra: Record<string, unknown>, issuer = t.server.config.issuer): Promise<string> => {
    const claims = accessTokenClaims({
      issuer,
      principal: A,
      audience: 'gw',
      scp: ['callers'],
      scope: 'gw:role.callers',
      issuedAt: Math.floor((Date.now() + offset) / 1000),
      lifetime: 600,
    });
    return signAccessToken({ ...claims, ...extra }, t.server.signingKeys.current());
  };

  before(async () => {
    t = await startTestServer({
      now: () => Date.now() + offset,
      env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '3' },
      edit: (config) => {
        config.tokenReuse = { enabled: true, window: 30 };
      },
    });
    for (const name of ['app', 'gw', 'mid', 'back', 'orders', 'other', 'edge']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of [A, B, C, D, E, G, 'app.rs', 'app.down', 'other.thief', 'other.admin', 'orders.api']) await createService(principal);
    rs.secret = secrets.get('app.rs')!;
    const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
    await putRole('gw', 'callers', { members: members(A, B, 'app.down') });
    await putRole('mid', 'callers', { members: members(A), actors: [B] });
    await putRole('back', 'callers', { members: members(A), actors: [B, C, D] });
    await putRole('orders', 'readers', { members: members(A, B), actors: [B, C, D, G] });
    await putRole('orders', 'writers', { members: members(A), actors: [B, D, G] });
    await putRole('orders', 'audit', { members: members(A), actors: [C, D] });
    await putRole('orders', 'direct', { members: members(A), actors: [B] });
    await putRole('orders', 'stolen', { members: members(A), actors: ['other.thief'] });
    await putRole('orders', 'imp', { members: members(A), impersonators: [B] });
    await putRole('orders', 'held', { members: members('app.down'), actors: [B] });
    await putRole('other', 'admin', { members: members('other.admin') });
  });
  after(() => t.stop());

  describe('delegation', () => {
    it('lists the grant type in both discovery documents', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await t.send(path);
        assert.deepEqual(res.json.grant_types_supported, ['client_credentials', GRANT]);
        assert.ok((res.json.claims_supported as string[]).includes('act'));
      }
    });

    it('issues for a three-hop chain a token whose act nests the actors, current outermost, with only the roles every hop allowed', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const b = await exchange(B, a, { scope: 'mid:domain', requested_token_type: AT });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.headers['cache-control'], 'no-store');
      assert.equal(b.json.issued_token_type, AT);
      assert.equal(b.json.token_type, 'Bearer');
      assert.equal(b.json.scope, 'mid:role.callers');
      const c = await exchanged(C, b.json.access_token, 'back:domain');
      const d = await exchange(D, c, { scope: 'orders:domain' });
      assert.equal(d.status, 200, d.text);
      assert.equal(d.json.scope, 'orders:role.readers', 'writers does not list mid.svc, audit does not list gw.edge, direct lists gw.edge only');

      const jwks = createRemoteJWKSet(new URL(`${t.url}/oauth2/keys`), { [customFetch]: fetchTrusting(t.ca) });
      const options = { issuer: t.url, audience: 'orders', typ: 'at+jwt', algorithms: ['ES256'] };
      const { payload, protectedHeader } = await jwtVerify(d.json.access_token, jwks, options);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(payload.sub, A);
      assert.equal(payload['uid'], A);
      assert.equal(payload['client_id'], D);
      assert.deepEqual(payload['act'], { sub: D, act: { sub: C, act: { sub: B } } });
      assert.deepEqual(payload['scp'], ['readers']);
      assert.equal(payload.aud, 'orders');
      const [ja, jb, jc] = [a, b.json.access_token, c].map((token) => decodeJwt(token).jti);
      assert.deepEqual(payload['exchanged_from'], [jc, jb, ja], 'the tokens it derives from, nearest first');
      assert.ok(payload.exp! <= decodeJwt(c).exp! && payload.exp! <= decodeJwt(a).exp!);
      assert.deepEqual(decodeJwt(b.json.access_token)['act'], { sub: B });
    });

    it('shows act at introspection', async () => {
      const { d } = await chain();
      const answer = await introspect(d);
      assert.equal(answer['active'], true);
      assert.equal(answer['sub'], A);
      assert.equal(answer['client_id'], D);
      assert.deepEqual(answer['act'], { sub: D, act: { sub: C, act: { sub: B } } });
    });

    it('answers the same at the Athenz path, and names the target with audience instead of a scope', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const res = await t.send('/zts/v1/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(B, secrets.get(B)!) },
        body: new URLSearchParams({ grant_type: GRANT, subject_token: a, subject_token_type: AT, audience: 'orders' }).toString(),
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.scope, 'orders:role.direct orders:role.readers orders:role.writers');
      const both = await exchange(B, a, { audience: 'orders', scope: 'orders:role.readers' });
      assert.equal(both.json.scope, 'orders:role.readers', both.text);
    });

    it("never extends the subject token: exp is at most the subject's, whatever expires_in asks", async () => {
      const a = await tokenOf(A, 'gw:domain', { expires_in: '120' });
      const res = await exchange(B, a, { scope: 'orders:role.readers', expires_in: '3600' });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.expires_in <= 120, String(res.json.expires_in));
      assert.ok(decodeJwt(res.json.access_token).exp! <= decodeJwt(a).exp!);
      const shorter = await exchange(B, a, { scope: 'orders:role.readers', expires_in: '30' });
      assert.equal(shorter.json.expires_in, 30);
    });

    it('never serves an exchanged token from the reuse cache', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const first = await exchanged(B, a, 'orders:role.readers');
      const second = await exchanged(B, a, 'orders:role.readers');
      assert.notEqual(decodeJwt(first).jti, decodeJwt(second).jti);
    });

    it("accepts an actor_token of the client itself, and refuses another's or a broken one", async () => {
      const a = await tokenOf(A, 'gw:domain');
      const own = await tokenOf(B, 'gw:domain');
      assert.equal((await exchange(B, a, { scope: 'orders:role.readers', actor_token: own, actor_token_type: AT })).status, 200);
      const withActor = (actorToken: string) => exchange(B, a, { scope: 'orders:role.readers', actor_token: actorToken, actor_token_type: AT });
      assertError(await withActor(a), 400, 'invalid_grant', /actor_token is app.web's, not a token of gw.edge/);
      assertError(await withActor('x.y.z'), 400, 'invalid_grant', /actor_token is not acceptable/);
    });

    it("binds the token to the actor's certificate when the actor authenticates with one, and ends it by the certificate's notAfter", async () => {
      const cert = await tesseraCertificate(t, B);
      const a = await tokenOf(A, 'gw:domain');
      const res = await postForm(t, { grant_type: GRANT, subject_token: a, subject_token_type: AT, scope: 'orders:role.readers' }, { client: cert });
      assert.equal(res.status, 200, res.text);
      const claims = decodeJwt(res.json.access_token);
      const x509 = new X509Certificate(cert.certPem);
      assert.deepEqual(claims['cnf'], { 'x5t#S256': createHash('sha256').update(x509.raw).digest('base64url') });
      assert.equal(claims['client_id'], B);
      assert.ok(claims.exp! <= x509.validToDate.getTime() / 1000);
    });

    it("is performed unchanged by openid-client's genericGrantRequest", async () => {
      const a = await tokenOf(A, 'gw:domain');
      const secret = secrets.get(B)!;
      const config = await oidc.discovery(new URL(t.url), B, secret, oidc.ClientSecretBasic(secret), { [oidc.customFetch]: fetchTrusting(t.ca) });
      const tokens = await oidc.genericGrantRequest(config, GRANT, { subject_token: a, subject_token_type: AT, scope: 'orders:role.readers' });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.equal(tokens['issued_token_type'], AT);
      assert.deepEqual(decodeJwt(tokens.access_token)['act'], { sub: B });
    });

    it('audits the issued token with its subject, actor and chain', async () => {
      const { d } = await chain();
      await t.server.flushAudit();
      const res = await t.admin$('GET', `/audit?type=token.issued&principal=${A}`);
      assert.equal(res.status, 200, res.text);
      const event = (res.json.events as { actor: string; target: string; after: Record<string, unknown> }[]).find((e) => e.after['jti'] === decodeJwt(d).jti);
      assert.ok(event, 'the exchange is found by its subject');
      assert.equal(event.actor, D);
      assert.equal(event.target, A);
      assert.equal(event.after['subject'], A);
      assert.deepEqual(event.after['actors'], [D, C, B]);
      assert.equal(event.after['acting'], 'delegation');
    });
  });

  describe('revocation', () => {
    it('ends every token exchanged from a revoked subject token at introspection, two and three hops down', async () => {
      const { a, b, c, d } = await chain();
      for (const token of [a, b, c, d]) assert.equal((await introspect(token))['active'], true);
      const res = await t.send('/oauth2/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(A, secrets.get(A)!) },
        body: new URLSearchParams({ token: a }).toString(),
      });
      assert.equal(res.status, 200, res.text);
      for (const token of [a, b, c, d]) assert.deepEqual(await introspect(token), { active: false });
      assertError(await exchange(D, c, { scope: 'orders:domain' }), 400, 'invalid_grant', /a token it was exchanged from has been revoked/);
    });

    it('lets the actor revoke the token it holds, ending those exchanged from it and not the one before', async () => {
      const { a, b, c, d } = await chain();
      const res = await t.send('/oauth2/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(B, secrets.get(B)!) },
        body: new URLSearchParams({ token: b }).toString(),
      });
      assert.equal(res.status, 200, res.text);
      assert.equal((await introspect(a))['active'], true);
      for (const token of [b, c, d]) assert.deepEqual(await introspect(token), { active: false });
    });
  });

  describe('policy', () => {
    it('refuses an actor no requested role lists (403 access_denied)', async () => {
      const a = await tokenOf(A, 'gw:domain');
      assertError(await exchange(B, a, { scope: 'orders:role.audit' }), 403, 'access_denied', /gw.edge may not act for app.web in any requested role/);
      const b = await exchanged(B, a, 'mid:domain');
      const c = await exchanged(C, b, 'back:domain');
      assertError(await exchange(D, c, { scope: 'orders:role.writers' }), 403, 'access_denied', /listing back.svc, mid.svc, gw.edge in its actors/);
    });

    it('refuses roles the subject does not hold, even where the actor is listed', async () => {
      const a = await tokenOf(A, 'gw:domain');
      assertError(await exchange(B, a, { scope: 'orders:role.held' }), 403, 'access_denied', /app.web holds none of the requested roles/);
    });

    it("takes a change of a role's actors at once, at the token endpoint and at introspection", async () => {
      const a = await tokenOf(A, 'gw:domain');
      const before = await exchanged(B, a, 'orders:role.direct');
      await putRole('orders', 'direct', { actors: [] });
      assertError(await exchange(B, a, { scope: 'orders:role.direct' }), 403, 'access_denied', /may not act for app.web/);
      assert.deepEqual(await introspect(before), { active: false });
      const got = await t.admin$('GET', '/domains/orders/roles/direct');
      assert.deepEqual([got.json.actors, got.json.members.length], [[], 1], 'the members stay');
      await putRole('orders', 'direct', { actors: [B] });
      assert.equal((await exchange(B, a, { scope: 'orders:role.direct' })).status, 200);
    });

    it('ends the tokens an actor holds for others when the actor loses a registered key', async () => {
      await createService('gw.keyed');
      await putRole('orders', 'keyed', { members: [{ principal: A }], actors: ['gw.keyed'] });
      const put = await t.admin$('PUT', '/domains/gw/services/keyed/keys/k1', { pem: await publicKeyPem(await newKeys()) });
      assert.ok(put.status < 300, put.text);
      const held = await exchanged('gw.keyed', await tokenOf(A, 'gw:domain'), 'orders:role.keyed');
      assert.equal((await introspect(held))['active'], true);
      assert.equal((await t.admin$('DELETE', '/domains/gw/services/keyed/keys/k1')).status, 204);
      assert.deepEqual(await introspect(held), { active: false });
    });

    it('refuses a chain deeper than tokenExchange.maxDepth (invalid_grant)', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const b = await exchanged(B, a, 'mid:domain');
      const c = await exchanged(C, b, 'back:domain');
      const d = await exchanged(D, c, 'back:domain');
      assert.deepEqual(decodeJwt(d)['act'], { sub: D, act: { sub: C, act: { sub: B } } }, 'three actors: the limit here');
      await putRole('back', 'callers', { actors: [B, C, D, E] });
      assertError(await exchange(E, d, { scope: 'back:domain' }), 400, 'invalid_grant', /would be 4 actors deep .*at most 3 \(tokenExchange.maxDepth\)/);
    });

    it("refuses a token stolen from elsewhere: its audience is not the actor's domain, even where a role lists the actor", async () => {
      const a = await tokenOf(A, 'gw:domain');
      const res = await exchange('other.thief', a, { scope: 'orders:role.stolen' });
      assertError(
        res,
        400,
        'invalid_grant',
        /issued for gw: other.thief may exchange only tokens sent to its domain \(other\), or toward the domains the token was sent to, not toward orders/,
      );
    });

    it("lets an actor in front of the token's audience (a gateway) exchange it toward that audience, for no role the token did not carry", async () => {
      // A's token for orders carries readers; A also holds writers, and both roles list the gateway.
      const callers = await tokenOf(A, 'orders:role.readers');
      const fronted = decodeJwt(await exchanged(G, callers, 'orders:domain'));
      assert.equal(fronted.sub, A);
      assert.deepEqual(fronted['act'], { sub: G });
      assert.deepEqual(fronted['scp'], ['readers'], "writers is held and lists the gateway, but the caller's token did not carry it");
      assertError(await exchange(G, callers, { scope: 'orders:role.writers' }), 403, 'access_denied', /only roles it carries: orders:readers/);
      // Toward a domain the token was not sent to, being in front of orders is no reason.
      assertError(await exchange(G, callers, { scope: 'back:domain' }), 400, 'invalid_grant', /sent to its domain \(edge\), or toward .* not toward back/);
      assertError(await exchange(G, callers, { scope: 'orders:domain back:domain' }), 400, 'invalid_grant', /not toward back/);
      // A token sent to the actor's own domain is judged by the roles' actors alone, as before.
      const b = decodeJwt(await exchanged(B, await tokenOf(A, 'gw:domain'), 'orders:domain'));
      assert.deepEqual(b['scp'], ['direct', 'readers', 'writers']);
    });

    it('refuses an actor exchanging its own token (no fresh lifetime that way)', async () => {
      const own = await tokenOf(B, 'gw:domain');
      assertError(await exchange(B, own, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /gw.edge's own token/);
    });

    it("refuses an actor re-exchanging a token it already holds for its subject (an exchange's or proxy_for_principal's result)", async () => {
      const b = await exchanged(B, await tokenOf(A, 'gw:domain'), 'mid:domain');
      const held = /the subject_token is held by gw.edge itself \(it acts for app.web already\)/;
      assertError(await exchange(B, b, { scope: 'mid:domain' }), 400, 'invalid_grant', held);
      const proxied = await tokenOf(B, 'orders:role.readers', { proxy_for_principal: A });
      assertError(await exchange(B, proxied, { scope: 'orders:role.readers' }), 400, 'invalid_grant', held);
      // The one it was sent to may still exchange it.
      assert.equal((await exchange(C, b, { scope: 'back:domain' })).status, 200);
    });

    it('refuses to act for a disabled subject service', async () => {
      const token = await tokenOf('app.down', 'gw:domain');
      assert.equal((await t.admin$('PATCH', '/domains/app/services/down', { status: 'DISABLED' })).status, 200);
      const res = await exchange(B, token, { scope: 'orders:role.held' });
      assertError(res, 400, 'invalid_grant', /subject_token is not acceptable: app.down is not an active service/);
    });

    it('honours may_act: only the principal it names may act', async () => {
      const others = await craftedToken({ may_act: { sub: 'gw.other' } });
      assertError(await exchange(B, others, { scope: 'orders:role.readers' }), 403, 'access_denied', /allows only gw.other to act for app.web/);
      const mine = await craftedToken({ may_act: { sub: B } });
      assert.equal((await exchange(B, mine, { scope: 'orders:role.readers' })).status, 200);
    });

    it('refuses a chain whose act and client_id disagree (a hidden or forged chain)', async () => {
      const hidden = await craftedToken({ client_id: 'mid.svc', act: { sub: 'back.svc' } });
      assertError(await exchange(B, hidden, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /act and client_id disagree/);
    });
  });

  describe('the end of an earlier actor, or of a certificate an ancestor was bound to', () => {
    const relays = ['gw.relay1', 'gw.relay2', 'gw.relay3'];
    before(async () => {
      for (const relay of relays) await createService(relay);
      await putRole('mid', 'relayed', { members: [{ principal: A }], actors: relays });
      await putRole('back', 'relayed', { members: [{ principal: A }], actors: [...relays, C] });
    });
    /** A → relay → C: the token C holds (for back), with relay an earlier actor of its chain. */
    const through = async (relay: string): Promise<string> => {
      const b = await exchanged(relay, await tokenOf(A, 'gw:domain'), 'mid:role.relayed');
      const c = await exchanged(C, b, 'back:role.relayed');
      assert.deepEqual(decodeJwt(c)['act'], { sub: C, act: { sub: relay } });
      assert.equal((await introspect(c))['active'], true);
      return c;
    };
    /** Why the token is no longer acceptable, as D's exchange of it says (introspection says only active: false). */
    const refusal = async (token: string): Promise<TestResponse> => exchange(D, token, { scope: 'back:domain' });

    it('ends a token whose chain names an actor since disabled, and takes it back when the actor is active again', async () => {
      const c = await through('gw.relay1');
      assert.equal((await t.admin$('PATCH', '/domains/gw/services/relay1', { status: 'DISABLED' })).status, 200);
      try {
        assert.deepEqual(await introspect(c), { active: false });
        assertError(await refusal(c), 400, 'invalid_grant', /not acceptable: gw.relay1, an earlier actor of the token's act chain, is not an active service/);
      } finally {
        assert.equal((await t.admin$('PATCH', '/domains/gw/services/relay1', { status: 'ACTIVE' })).status, 200);
      }
      assert.equal((await introspect(c))['active'], true);
    });

    it('ends a token whose chain names an actor that lost a registered key since it was issued', async () => {
      const put = await t.admin$('PUT', '/domains/gw/services/relay2/keys/k1', { pem: await publicKeyPem(await newKeys()) });
      assert.ok(put.status < 300, put.text);
      const c = await through('gw.relay2');
      assert.equal((await t.admin$('DELETE', '/domains/gw/services/relay2/keys/k1')).status, 204);
      assert.deepEqual(await introspect(c), { active: false });
      const lost = /not acceptable: gw.relay2, which acted in its chain: a public key registered on gw.relay2 was removed/;
      assertError(await refusal(c), 400, 'invalid_grant', lost);
    });

    it('ends a token whose chain names an actor since deleted, also once another service of that name is registered', async () => {
      const c = await through('gw.relay3');
      assert.equal((await t.admin$('DELETE', '/domains/gw/services/relay3')).status, 204);
      assertError(await refusal(c), 400, 'invalid_grant', /gw.relay3, an earlier actor of the token's act chain, is not an active service/);
      offset += 1500;
      await createService('gw.relay3');
      assert.deepEqual(await introspect(c), { active: false });
      assertError(await refusal(c), 400, 'invalid_grant', /gw.relay3, an earlier actor of the token's act chain, was deleted since the token was issued/);
    });

    it('carries the thumbprints of the certificates its ancestors were bound to, and ends when one is revoked', async () => {
      const cert = await tesseraCertificate(t, A);
      const bound = await postForm(t, { grant_type: 'client_credentials', scope: 'gw:domain' }, { client: cert });
      assert.equal(bound.status, 200, bound.text);
      const thumbprint = (decodeJwt(bound.json.access_token)['cnf'] as Record<string, string>)['x5t#S256'];
      const b = await exchanged(B, bound.json.access_token, 'mid:domain');
      const c = await exchanged(C, b, 'back:domain');
      assert.equal(decodeJwt(b)['cnf'], undefined, 'gw.edge used a secret: b is bound to nothing');
      assert.deepEqual([decodeJwt(b)['exchanged_cnf'], decodeJwt(c)['exchanged_cnf']], [[thumbprint], [thumbprint]]);
      const unbound = await exchanged(B, await tokenOf(A, 'gw:domain'), 'mid:domain');
      assert.equal(decodeJwt(unbound)['exchanged_cnf'], undefined, 'none when no ancestor was bound');
      assert.equal((await introspect(c))['active'], true);
      assert.equal((await t.admin$('POST', `/certificates/${cert.serial}/revoke`, { reason: 'keyCompromise' })).status, 200);
      assert.deepEqual(await introspect(b), { active: false });
      assert.deepEqual(await introspect(c), { active: false });
      const revoked = new RegExp(
        `the client certificate a token it was exchanged from is bound to \\(serial ${cert.serial}\\) was revoked at .* \\(keyCompromise\\)`,
      );
      assertError(await refusal(c), 400, 'invalid_grant', revoked);
      assert.equal((await introspect(unbound))['active'], true);
    });

    it('refuses a token with a malformed exchanged_cnf claim', async () => {
      for (const value of ['x', [''], [1], Array.from({ length: 33 }, (_, i) => `t${i}`)]) {
        const crafted = await craftedToken({ exchanged_cnf: value });
        assertError(await exchange(B, crafted, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /malformed exchanged_cnf claim/);
      }
    });
  });

  describe('impersonation', () => {
    it('is refused without a role listing the actor in impersonators', async () => {
      const a = await tokenOf(A, 'gw:domain');
      assertError(await exchange(B, a, { scope: 'orders:role.readers', impersonation: 'true' }), 403, 'access_denied', /may not impersonate app.web/);
    });

    it('issues a token without act only where the role allows it and the request asks', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const res = await exchange(B, a, { scope: 'orders:domain', impersonation: 'true' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.scope, 'orders:role.imp');
      const claims = decodeJwt(res.json.access_token);
      assert.equal(claims.sub, A);
      assert.equal(claims['client_id'], B);
      assert.equal(claims['act'], undefined);
      const answer = await introspect(res.json.access_token);
      assert.equal(answer['active'], true);
      assert.equal(answer['act'], undefined);
      // Not asked for: delegation, which imp does not allow.
      assertError(await exchange(B, a, { scope: 'orders:role.imp' }), 403, 'access_denied', /may not act for app.web/);
      assertError(await exchange('orders.api', res.json.access_token, { scope: 'orders:domain' }), 400, 'invalid_grant', /impersonation token/);
    });

    it('is refused for a subject token with an act chain: it would hide the earlier actors', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const b = await exchanged(B, a, 'mid:domain');
      assertError(await exchange(C, b, { scope: 'back:domain', impersonation: 'true' }), 400, 'invalid_grant', /would hide the earlier actors/);
    });
  });

  describe('bad subject tokens (400 invalid_grant)', () => {
    it('refuses one that is not a JWT, or signed by another key', async () => {
      assertError(await exchange(B, 'not-a-token', { scope: 'orders:role.readers' }), 400, 'invalid_grant', /subject_token is not acceptable/);
      const a = await tokenOf(A, 'gw:domain');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const forged = await new SignJWT(decodeJwt(a) as JWTPayload).setProtectedHeader(decodeProtectedHeader(a) as { alg: 'ES256' }).sign(privateKey);
      assertError(await exchange(B, forged, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /signature verification failed/);
    });

    it('refuses one of another issuer', async () => {
      const foreign = await craftedToken({}, 'https://elsewhere.example');
      assertError(await exchange(B, foreign, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /unexpected 'iss' claim value/);
    });

    it('refuses an ID token sent as an access token, and one sent as an ID token where no role sets idTokenSubjects', async () => {
      const res = await t.token(A, secrets.get(A)!, { grant_type: 'client_credentials', scope: 'gw:domain openid gw:service.edge' });
      assert.equal(res.status, 200, res.text);
      assertError(
        await exchange(B, res.json.id_token, { scope: 'orders:role.readers' }),
        400,
        'invalid_request',
        /is an ID token .*subject_token_type=.*id_token/,
      );
      const asId = await exchange(B, undefined, { subject_token: res.json.id_token, subject_token_type: ID, scope: 'orders:role.readers' });
      assertError(asId, 403, 'access_denied', /idTokenSubjects/);
    });

    it('refuses an expired one', async () => {
      const a = await tokenOf(A, 'gw:domain', { expires_in: '1' });
      offset += 2000;
      assertError(await exchange(B, a, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /subject_token is not acceptable: .*(expired|"exp")/);
    });
  });

  describe('request errors', () => {
    let a: string;
    before(async () => {
      a = await tokenOf(A, 'gw:domain');
    });
    /** The subject token parameters, and `extra`. */
    const withSubject = (extra: Record<string, string>): Record<string, string> => ({ subject_token: a, subject_token_type: AT, ...extra });
    const cases: [string, () => Record<string, string>, number, string, RegExp][] = [
      ['no subject_token', () => ({ subject_token_type: AT, scope: 'orders:domain' }), 400, 'invalid_request', /subject_token is required/],
      ['no subject_token_type', () => ({ subject_token: a, scope: 'orders:domain' }), 400, 'invalid_request', /subject_token_type is required/],
      [
        'an unsupported subject_token_type',
        () => ({ subject_token: a, subject_token_type: SAML, scope: 'orders:domain' }),
        400,
        'invalid_request',
        /subject_token_type .* is not supported/,
      ],
      [
        'actor_token without its type',
        () => withSubject({ actor_token: a, scope: 'orders:domain' }),
        400,
        'invalid_request',
        /actor_token and actor_token_type go together/,
      ],
      ['actor_token_type without a token', () => withSubject({ actor_token_type: AT, scope: 'orders:domain' }), 400, 'invalid_request', /go together/],
      [
        'an unsupported actor_token_type',
        () => withSubject({ actor_token: a, actor_token_type: ID, scope: 'orders:domain' }),
        400,
        'invalid_request',
        /actor_token_type .* is not supported/,
      ],
      [
        'an unsupported requested_token_type',
        () => withSubject({ requested_token_type: REFRESH, scope: 'orders:domain' }),
        400,
        'invalid_request',
        /requested_token_type .* is not supported/,
      ],
      ['a resource', () => withSubject({ resource: 'https://orders.example/api', scope: 'orders:domain' }), 400, 'invalid_target', /resource is not supported/],
      ['no target', () => withSubject({}), 400, 'invalid_request', /name the target/],
      ['a malformed scope', () => withSubject({ scope: 'Orders:domain' }), 400, 'invalid_scope', /scope item/],
      ['openid in the scope', () => withSubject({ scope: 'orders:domain openid orders:service.api' }), 400, 'invalid_scope', /access tokens only/],
      ['an unknown target domain', () => withSubject({ scope: 'nowhere:domain' }), 400, 'invalid_target', /domain 'nowhere' does not exist/],
      ['an unknown audience', () => withSubject({ audience: 'nowhere' }), 400, 'invalid_target', /domain 'nowhere' does not exist/],
      [
        "an audience that is not the scope's domain",
        () => withSubject({ audience: 'mid', scope: 'orders:domain' }),
        400,
        'invalid_target',
        /audience mid is not the one domain/,
      ],
      ['an audience that is no domain name', () => withSubject({ audience: 'Not A Domain' }), 400, 'invalid_target', /is not a domain name/],
      [
        'a bad impersonation value',
        () => withSubject({ scope: 'orders:domain', impersonation: 'yes' }),
        400,
        'invalid_request',
        /impersonation must be 'true' or 'false'/,
      ],
      ['a bad expires_in', () => withSubject({ scope: 'orders:domain', expires_in: '-1' }), 400, 'invalid_request', /expires_in must be/],
      [
        'proxy_for_principal',
        () => withSubject({ scope: 'orders:domain', proxy_for_principal: A }),
        400,
        'invalid_request',
        /proxy_for_principal goes with client_credentials/,
      ],
    ];
    for (const [name, params, status, error, description] of cases) {
      it(`answers ${name} with ${status} ${error}`, async () => {
        assertError(await exchange(B, undefined, params()), status, error, description);
      });
    }

    it('keeps 404 invalid_scope for an unknown domain at client_credentials', async () => {
      const res = await t.token(B, secrets.get(B)!, { grant_type: 'client_credentials', scope: 'nowhere:domain' });
      assertError(res, 404, 'invalid_scope', /domain 'nowhere' does not exist/);
    });

    it('names both grant types when the grant type is unknown', async () => {
      assertError(await t.token(B, secrets.get(B)!, { grant_type: 'password' }), 400, 'unsupported_grant_type', /use client_credentials or urn:ietf/);
    });
  });

  describe('proxy_for_principal (Athenz)', () => {
    it('issues a token of the end principal, for the roles both hold whose role lists the proxy, naming the proxy in act', async () => {
      const res = await t.token(B, secrets.get(B)!, { grant_type: 'client_credentials', scope: 'orders:domain', proxy_for_principal: A });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.scope, 'orders:role.readers', 'writers and direct list gw.edge, but gw.edge does not hold them');
      const claims = decodeJwt(res.json.access_token);
      assert.deepEqual([claims.sub, claims['uid'], claims['client_id']], [A, A, B]);
      assert.deepEqual(claims['act'], { sub: B });
      const answer = await introspect(res.json.access_token);
      assert.deepEqual([answer['active'], answer['act']], [true, { sub: B }]);
      await t.server.flushAudit();
      const audit = await t.admin$('GET', `/audit?type=token.issued&principal=${A}`);
      const event = (audit.json.events as { after: Record<string, unknown> }[]).find((e) => e.after['jti'] === claims.jti);
      assert.deepEqual([event?.after['acting'], event?.after['actors']], ['proxy', [B]]);
    });

    it('ends the token at introspection when the proxy loses a role it names', async () => {
      await putRole('orders', 'shared', { members: [{ principal: A }, { principal: B }], actors: [B] });
      const res = await t.token(B, secrets.get(B)!, { grant_type: 'client_credentials', scope: 'orders:role.shared', proxy_for_principal: A });
      assert.equal(res.status, 200, res.text);
      assert.equal((await introspect(res.json.access_token))['active'], true);
      assert.equal((await t.admin$('DELETE', `/domains/orders/roles/shared/members/${B}`)).status, 204);
      assert.deepEqual(await introspect(res.json.access_token), { active: false });
    });

    it('refuses a proxy that no role lists (403 access_denied)', async () => {
      await putRole('orders', 'readers', { members: [{ principal: A }, { principal: B }, { principal: 'other.thief' }] });
      const params = { grant_type: 'client_credentials', scope: 'orders:domain', proxy_for_principal: A };
      const res = await t.token('other.thief', secrets.get('other.thief')!, params);
      assertError(res, 403, 'access_denied', /other.thief may not act for app.web in any requested role/);
    });

    it('refuses an end principal that does not exist or is disabled, the client itself, and a bad name', async () => {
      const ask = (principal: string, scope = 'orders:domain') =>
        t.token(B, secrets.get(B)!, { grant_type: 'client_credentials', scope, proxy_for_principal: principal });
      assertError(await ask('app.ghost'), 403, 'access_denied', /proxy_for_principal app.ghost is not a registered service/);
      await t.admin$('PATCH', '/domains/app/services/down', { status: 'DISABLED' });
      assertError(await ask('app.down'), 403, 'access_denied', /proxy_for_principal app.down is disabled/);
      assertError(await ask(B), 400, 'invalid_request', /names the client itself/);
      assertError(await ask('Not A Principal'), 400, 'invalid_request', /is not a principal name/);
      assertError(await ask(A, 'orders:domain openid orders:service.api'), 400, 'invalid_scope', /access tokens only/);
    });
  });

  describe('role actors in the admin API', () => {
    it('shows actors and impersonators, and validates them', async () => {
      const got = await t.admin$('GET', '/domains/orders/roles/imp');
      assert.deepEqual([got.json.actors, got.json.impersonators], [[], [B]]);
      const bad = await t.admin$('PUT', '/domains/orders/roles/imp', { actors: ['Not A Principal'] });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.json.message, /actors: "Not A Principal" is not a valid principal name/);
      const twice = await t.admin$('PUT', '/domains/orders/roles/imp', { impersonators: [B, B] });
      assert.equal(twice.status, 400, twice.text);
      assert.match(twice.json.message, /impersonators: each principal may appear once/);
      const many = await t.admin$('PUT', '/domains/orders/roles/imp', { actors: Array.from({ length: 101 }, (_, i) => `gw.s${i}`) });
      assert.equal(many.status, 400, many.text);
      const list = await t.admin$('GET', '/domains/orders/roles');
      assert.deepEqual(list.json.roles.find((role: { name: string }) => role.name === 'readers').actors, [D, B, C, G].sort());
    });

    it('refuses a token acting for an admin at the admin API, even where the admin role lists the actor', async () => {
      await putRole('orders', 'admin', { members: [{ principal: A }], actors: [B] });
      const a = await tokenOf(A, 'gw:domain');
      const delegated = await exchanged(B, a, 'orders:role.admin');
      assert.equal((await introspect(delegated))['active'], true);
      const res = await t.admin$('GET', '/domains/orders/roles', undefined, delegated);
      assert.equal(res.status, 401, res.text);
      assert.match(res.json.message, /acts for app.web on behalf of gw.edge; the admin API takes a service's own token only/);
      assert.equal((await t.admin$('GET', '/domains/orders/roles', undefined, await tokenOf(A, 'orders:role.admin'))).status, 200);
    });

    it("refuses a domain admin naming actors on another domain's role", async () => {
      const token = await tokenOf('other.admin', 'other:role.admin');
      const res = await t.admin$('PUT', '/domains/orders/roles/readers', { actors: ['other.admin'] }, token);
      assert.equal(res.status, 403, res.text);
      const own = await t.admin$('PUT', '/domains/other/roles/mine', { actors: [B] }, token);
      assert.equal(own.status, 201, own.text);
      assert.deepEqual(own.json.actors, [B], "an actor of another domain is the role's admins' choice");
    });
  });
});

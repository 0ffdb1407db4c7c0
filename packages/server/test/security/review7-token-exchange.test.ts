// Review 7: attacks on RFC 8693 token exchange, proxy_for_principal, role actors/impersonators
// and how they combine with the admin API, the CA, introspection, revocation, token reuse and
// certificate binding. Each test is named after the safe behaviour. Tests marked HOLE fail on the
// code reviewed (they show the hole); the others are attacks that were refused and guard against
// regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, introspectAs, startTestServer, type TestServer, testRegistry } from '@tessera/testkit/server';
import { newKeys, postForm, publicKeyPem, tesseraCertificate } from '../e2e/mtls-support.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const A = 'app.web';
const B = 'gw.edge';
const C = 'mid.svc';
const P = 'px.proxy';
const G = 'edge.gate';

describe('review 7: token exchange, proxy_for_principal and delegation across features', () => {
  let t: TestServer;
  const { secrets, createService, putRole } = testRegistry(() => t);
  const rs = { id: 'app.rs', secret: '' };

  const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
  const request = (principal: string, params: Record<string, string>): Promise<TestResponse> => t.token(principal, secrets.get(principal)!, params);
  const tokenOf = async (principal: string, scope: string, extra: Record<string, string> = {}): Promise<string> => {
    const res = await request(principal, { grant_type: 'client_credentials', scope, ...extra });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  const exchange = (actor: string, subjectToken: string, params: Record<string, string> = {}): Promise<TestResponse> =>
    request(actor, { grant_type: GRANT, subject_token: subjectToken, subject_token_type: AT, ...params });
  const exchanged = async (actor: string, subjectToken: string, scope: string, params: Record<string, string> = {}): Promise<string> => {
    const res = await exchange(actor, subjectToken, { scope, ...params });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  const revoke = (principal: string, token: string): Promise<TestResponse> =>
    t.send('/oauth2/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(principal, secrets.get(principal)!) },
      body: new URLSearchParams({ token }).toString(),
    });

  before(async () => {
    t = await startTestServer({
      env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '3' },
      edit: (config) => {
        config.tokenReuse = { enabled: true, window: 30 };
      },
    });
    for (const name of ['app', 'gw', 'mid', 'orders', 'px', 'edge', 'other']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of [A, B, C, P, G, 'app.rs', 'gw.admin', 'other.thief', 'mid.gone', 'mid.keyed', 'gw.keyed']) await createService(principal);
    rs.secret = secrets.get('app.rs')!;
    await putRole('gw', 'callers', { members: members(A, B, 'gw.keyed') });
    await putRole('gw', 'admin', { members: members('gw.admin') });
    await putRole('mid', 'callers', { members: members(A), actors: [B, 'gw.keyed'] });
    await putRole('orders', 'readers', { members: members(A, B), actors: [B, C, G, 'mid.gone', 'mid.keyed', 'gw.keyed'] });
    await putRole('orders', 'imp', { members: members(A), impersonators: [B] });
    // px.proxy may proxy for app.web in px (both are members), and may act for app.web in orders
    // when app.web sends it a token; it holds no role in orders itself.
    await putRole('px', 'callers', { members: members(A, P), actors: [P] });
    await putRole('orders', 'secret', { members: members(A), actors: [P] });
  });
  after(() => t.stop());

  describe('HOLE: proxy_for_principal followed by the proxy exchanging its own proxy token', () => {
    it('proxy_for_principal alone is refused a role the proxy does not hold (the both-hold rule)', async () => {
      const res = await request(P, { grant_type: 'client_credentials', scope: 'orders:role.secret', proxy_for_principal: A });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.error, 'access_denied');
    });

    it('refuses to let a proxy re-exchange its own proxy_for_principal token toward a role only the principal holds', async () => {
      // app.web never sends px.proxy a token: the proxy mints one of app.web's for px...
      const proxied = await tokenOf(P, 'px:role.callers', { proxy_for_principal: A });
      assert.deepEqual(decodeJwt(proxied)['act'], { sub: P });
      // ...and exchanges it itself toward orders, where it holds nothing.
      const res = await exchange(P, proxied, { scope: 'orders:role.secret' });
      assert.notEqual(
        res.status,
        200,
        `the proxy got ${res.json.scope} for ${A}: ${JSON.stringify(res.json.access_token ? decodeJwt(res.json.access_token) : res.json)}`,
      );
    });
  });

  describe('HOLE: the end of an ancestor other than a jti revocation does not reach the tokens exchanged from it', () => {
    it('ends a token exchanged through an actor that has since been disabled', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const b = await exchanged(B, a, 'mid:domain');
      // mid.gone is a service of mid; b was sent to mid. It exchanges toward orders.
      const gone = await exchanged('mid.gone', b, 'orders:role.readers');
      assert.equal((await introspect(gone))['active'], true);
      // Now gw.edge, the first actor of gone's chain, is disabled (compromised).
      assert.equal((await t.admin$('PATCH', '/domains/gw/services/edge', { status: 'DISABLED' })).status, 200);
      try {
        assert.deepEqual(await introspect(b), { active: false }, 'the token gw.edge holds has ended');
        assert.deepEqual(await introspect(gone), { active: false }, 'a token whose act chain names a disabled actor stays active');
      } finally {
        assert.equal((await t.admin$('PATCH', '/domains/gw/services/edge', { status: 'ACTIVE' })).status, 200);
      }
    });

    it('ends a token exchanged through an actor that has since lost a registered key', async () => {
      // gw.keyed, an actor like gw.edge, has a registered key; whoever held it may have got what gw.keyed was issued.
      const put = await t.admin$('PUT', '/domains/gw/services/keyed/keys/k1', { pem: await publicKeyPem(await newKeys()) });
      assert.ok(put.status < 300, put.text);
      const a = await tokenOf(A, 'gw:domain');
      const b = await exchanged('gw.keyed', a, 'mid:domain');
      const keyed = await exchanged('mid.keyed', b, 'orders:role.readers');
      assert.equal((await t.admin$('DELETE', '/domains/gw/services/keyed/keys/k1')).status, 204);
      assert.deepEqual(await introspect(b), { active: false }, 'the token gw.keyed held ended with its key');
      assert.deepEqual(await introspect(keyed), { active: false }, 'the token exchanged from it outlives the key removal');
    });

    it('ends a token exchanged from a certificate-bound subject token when that certificate is revoked (keyCompromise)', async () => {
      const cert = await tesseraCertificate(t, A);
      const bound = await postForm(t, { grant_type: 'client_credentials', scope: 'gw:domain' }, { client: cert });
      assert.equal(bound.status, 200, bound.text);
      const a = bound.json.access_token as string;
      assert.ok(decodeJwt(a)['cnf'], "bound to app.web's certificate");
      const b = await exchanged(B, a, 'orders:role.readers');
      assert.equal(decodeJwt(b)['cnf'], undefined, 'the exchanged token is bound to nothing: gw.edge used a secret');
      assert.equal((await t.admin$('POST', `/certificates/${cert.serial}/revoke`, { reason: 'keyCompromise' })).status, 200);
      assert.deepEqual(await introspect(a), { active: false }, 'the bound token ended with its certificate');
      assert.deepEqual(await introspect(b), { active: false }, 'the token exchanged from it stays active after the certificate is revoked');
    });
  });

  describe('refused correctly (regression guards)', () => {
    it('refuses a delegated token and an impersonation token carrying sys.auth:role.admin at /admin/v1 and /auth/admin', async () => {
      const sysAdmin = t.admin.clientId;
      // A system admin lets gw.edge act for and impersonate it (a mistake an operator could make).
      const role = await t.admin$('GET', '/domains/sys.auth/roles/admin');
      await putRole('sys.auth', 'admin', { members: role.json.members, actors: [B], impersonators: [B] });
      try {
        const own = await t.adminToken();
        assert.equal(decodeJwt(own).sub, sysAdmin);
        // The admin's token was sent to sys.auth, not to gw: not exchangeable by gw.edge.
        assert.equal((await exchange(B, own, { scope: 'sys.auth:role.admin' })).status, 200, 'front door: gw.edge may stand in front of sys.auth');
        const delegated = (await exchange(B, own, { scope: 'sys.auth:role.admin' })).json.access_token as string;
        const impersonated = (await exchange(B, own, { scope: 'sys.auth:role.admin', impersonation: 'true' })).json.access_token as string;
        assert.equal(decodeJwt(impersonated)['act'], undefined);
        for (const token of [delegated, impersonated]) {
          const res = await t.admin$('GET', '/domains', undefined, token);
          assert.equal(res.status, 401, res.text);
          assert.match(res.text, /the admin API takes a service's own token only/);
          const sa = await t.send('/auth/admin/service-accounts', { headers: { authorization: `Bearer ${token}` } });
          assert.equal(sa.status, 401, sa.text);
        }
      } finally {
        await putRole('sys.auth', 'admin', { actors: [], impersonators: [] });
      }
    });

    it("refuses a domain admin setting actors on another domain's role, and on sys.auth's", async () => {
      const gwAdmin = await tokenOf('gw.admin', 'gw:role.admin');
      for (const [domain, role] of [
        ['orders', 'readers'],
        ['sys.auth', 'admin'],
      ] as const) {
        const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, { actors: ['gw.admin'] }, gwAdmin);
        assert.equal(res.status, 403, res.text);
      }
    });

    it("refuses a token stolen from the actor's own logs toward a domain it was not sent to (no front door)", async () => {
      const a = await tokenOf(A, 'mid:domain');
      const res = await exchange('other.thief', a, { scope: 'orders:role.readers' });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, 'invalid_grant');
    });

    it('a front door carries only the roles the subject token carried, also with scope <d>:domain and audience', async () => {
      const a = await tokenOf(A, 'orders:role.readers');
      const asks: Record<string, string>[] = [{ scope: 'orders:domain' }, { audience: 'orders' }, { scope: 'orders:role.readers orders:role.imp' }];
      for (const params of asks) {
        const res = await exchange(G, a, params);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.scope, 'orders:role.readers');
      }
      const imp = await exchange(G, a, { scope: 'orders:role.imp', impersonation: 'true' });
      assert.equal(imp.status, 403, imp.text);
    });

    it('a front door cannot be widened by re-exchanging its own result toward another domain', async () => {
      const a = await tokenOf(A, 'orders:role.readers');
      const front = await exchanged(G, a, 'orders:role.readers');
      const res = await exchange(G, front, { scope: 'mid:domain' });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, 'invalid_grant');
    });

    it('refuses to impersonate through a chain, and to exchange an impersonation token', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const imp = await exchanged(B, a, 'orders:role.imp', { impersonation: 'true' });
      assert.equal(decodeJwt(imp)['act'], undefined);
      assert.equal(decodeJwt(imp)['client_id'], B);
      // Sent on to mid.svc? It was issued for orders; even so, as a subject token it is refused.
      const res = await exchange(C, imp, { scope: 'orders:role.readers' });
      assert.equal(res.status, 400, res.text);
      const b = await exchanged(B, a, 'mid:domain');
      const chained = await exchange(C, b, { scope: 'orders:role.imp', impersonation: 'true' });
      assert.equal(chained.status, 400, chained.text);
    });

    it('never serves a proxy token from the reuse cache, nor a cached own token to a proxy request', async () => {
      const own = await tokenOf(P, 'px:role.callers');
      const proxied = await tokenOf(P, 'px:role.callers', { proxy_for_principal: A });
      assert.equal(decodeJwt(own).sub, P);
      assert.equal(decodeJwt(proxied).sub, A);
      const again = await tokenOf(P, 'px:role.callers');
      assert.equal(decodeJwt(again).sub, P);
      assert.equal(decodeJwt(again).jti, decodeJwt(own).jti, 'the own token is reused');
    });

    it('the service-account dialect never issues a proxy token (proxyForPrincipal refused or ignored)', async () => {
      const res = await t.send('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: P, clientSecret: secrets.get(P), grantType: 'client_credentials', scope: 'px:role.callers', proxyForPrincipal: A }),
      });
      assert.ok(res.status === 200 || res.status === 400, res.text);
      if (res.status === 200) assert.equal(decodeJwt(res.json.accessToken as string).sub, P, 'the dialect never proxies');
    });

    it('ends every exchanged token when the subject token is revoked concurrently with the exchanges', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const results = await Promise.all([
        ...Array.from({ length: 6 }, () => exchange(B, a, { scope: 'orders:role.readers' })),
        revoke(A, a).then(() => null),
        ...Array.from({ length: 6 }, () => exchange(B, a, { scope: 'orders:role.readers' })),
      ]);
      for (const res of results) {
        if (res === null || res.status !== 200) continue;
        assert.deepEqual(await introspect(res.json.access_token as string), { active: false });
      }
      assert.equal((await exchange(B, a, { scope: 'orders:role.readers' })).status, 400);
    });

    it('a change of actors ends held tokens at once, also when the token endpoint reads through its cache', async () => {
      await putRole('orders', 'volatile', { members: members(A), actors: [B] });
      const a = await tokenOf(A, 'gw:domain');
      const held = await exchanged(B, a, 'orders:role.volatile');
      await putRole('orders', 'volatile', { actors: [] });
      assert.deepEqual(await introspect(held), { active: false });
      const res = await exchange(B, a, { scope: 'orders:role.volatile' });
      assert.equal(res.status, 403, res.text);
    });

    it("never extends a token: expires_in asks past the subject token's exp get at most its exp", async () => {
      const a = await tokenOf(A, 'gw:domain', { expires_in: '120' });
      const res = await exchange(B, a, { scope: 'orders:role.readers', expires_in: '86400' });
      assert.equal(res.status, 200, res.text);
      assert.ok(decodeJwt(res.json.access_token).exp! <= decodeJwt(a).exp!);
    });

    it('answers odd parameters with a 4xx, never a 500', async () => {
      const a = await tokenOf(A, 'gw:domain');
      const odd: Record<string, string>[] = [
        { audience: 'orders orders' },
        { audience: 'orders:role.readers' },
        { audience: '' },
        { audience: 'x'.repeat(5000) },
        { scope: 'orders:role.readers', audience: 'ORDERS' },
        { scope: ' ' },
        { scope: 'orders:role.' },
        { scope: ':domain' },
        { scope: 'orders:domain '.repeat(300) },
        { scope: 'openid orders:service.api' },
        { scope: 'orders:role.readers', impersonation: 'TRUE' },
        { scope: 'orders:role.readers', expires_in: '-1' },
        { scope: 'orders:role.readers', expires_in: '1e9' },
        { scope: 'orders:role.readers', actor_token: 'a.b.c', actor_token_type: AT },
        { scope: 'orders:role.readers', actor_token: a, actor_token_type: AT },
        { scope: 'orders:role.readers', requested_token_type: 'urn:ietf:params:oauth:token-type:jwt' },
        { scope: 'orders:role.readers', proxy_for_principal: A },
        { scope: 'nosuch:domain' },
        { scope: 'sys.auth:domain' },
      ];
      for (const params of odd) {
        const res = await exchange(B, a, params);
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(params).slice(0, 120)}: ${res.status} ${res.text}`);
        assert.equal(typeof res.json.error_description, 'string');
      }
      for (const subject of ['', 'a.b.c', 'x'.repeat(20000), `${a}.`, a.split('.').slice(0, 2).join('.') + '.', 'ey.ey.ey']) {
        const res = await exchange(B, subject, { scope: 'orders:role.readers' });
        assert.ok(res.status >= 400 && res.status < 500, `${subject.slice(0, 40)}: ${res.status} ${res.text}`);
      }
    });
  });
});

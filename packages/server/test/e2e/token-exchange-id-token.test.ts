// RFC 8693 token exchange with an ID token as the subject token (docs/tokens.md, Token exchange):
// app.web asks for `openid gw:service.edge` and sends the ID token to gw.edge, which exchanges it
// for a token toward orders, where a role lists gw.edge in its actors and allows ID-token subjects.

import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { accessTokenClaims, idTokenClaims, signAccessToken, signIdTokenClaims } from '../../src/oauth2/tokens.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, introspectAs, startTestServer, type TestServer, testRegistry } from '@tessera/testkit/server';
import { newKeys, postForm, publicKeyPem, tesseraCertificate } from './mtls-support.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const ID = 'urn:ietf:params:oauth:token-type:id_token';
const A = 'app.web';
const B = 'gw.edge';
/** Another service of B's domain: not the ID token's audience. */
const X = 'gw.other';
/** Where B sends the exchanged token; it exchanges it on. */
const O = 'orders.api';

function assertError(res: TestResponse, status: number, error: string, description: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.error_description, description);
}

describe('token exchange of an ID token (subject_token_type id_token)', () => {
  let t: TestServer;
  let offset = 0;
  const { secrets, createService, putRole } = testRegistry(() => t);
  const rs = { id: 'app.rs', secret: '' };

  const tokens = async (principal: string, scope: string, extra: Record<string, string> = {}): Promise<{ access: string; id: string }> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope, ...extra });
    assert.equal(res.status, 200, res.text);
    return { access: res.json.access_token, id: res.json.id_token };
  };
  /** An ID token of `principal` for gw.edge. */
  const idTokenOf = async (principal = A, extra: Record<string, string> = {}): Promise<string> =>
    (await tokens(principal, `gw:domain openid gw:service.edge`, extra)).id;
  const exchange = (actor: string, subjectToken: string, params: Record<string, string>, type = ID): Promise<TestResponse> =>
    t.token(actor, secrets.get(actor)!, { grant_type: GRANT, subject_token: subjectToken, subject_token_type: type, ...params });
  const exchanged = async (actor: string, subjectToken: string, scope: string, type = ID): Promise<string> => {
    const res = await exchange(actor, subjectToken, { scope }, type);
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  const revokeAs = async (principal: string, token: string): Promise<void> => {
    const res = await t.send('/oauth2/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(principal, secrets.get(principal)!) },
      body: new URLSearchParams({ token }).toString(),
    });
    assert.equal(res.status, 200, res.text);
  };

  before(async () => {
    t = await startTestServer({ now: () => Date.now() + offset });
    for (const name of ['app', 'gw', 'orders', 'other', 'back']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of [A, B, X, O, 'app.rs', 'app.down', 'app.again', 'app.keyed']) await createService(principal);
    rs.secret = secrets.get('app.rs')!;
    const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
    await putRole('gw', 'callers', { members: members(A, B, 'app.down', 'app.again', 'app.keyed') });
    await putRole('orders', 'readers', { members: members(A, B, 'app.down', 'app.again', 'app.keyed'), actors: [B, X], idTokenSubjects: true });
    await putRole('orders', 'plain', { members: members(A), actors: [B] });
    await putRole('orders', 'others', { members: members(A), actors: [O], idTokenSubjects: true });
    await putRole('orders', 'fading', { members: members(A), actors: [B], idTokenSubjects: true });
    await putRole('other', 'readers', { members: members(A), actors: [B] });
    await putRole('back', 'callers', { members: members(A), actors: [B, O], idTokenSubjects: true });
    await putRole('back', 'plain', { members: members(A), actors: [B, O] });
    await putRole('orders', 'switch', { members: members(A), actors: [B], idTokenSubjects: true });
  });
  after(() => t.stop());

  it('issues a token acting for the ID token’s subject, with act, exchanged_from and no longer life than the ID token', async () => {
    const id = await idTokenOf(A, { expires_in: '300' });
    const idClaims = decodeJwt(id);
    assert.equal(typeof idClaims.jti, 'string', 'ID tokens carry a jti');
    assert.equal(idClaims.aud, B);
    const res = await exchange(B, id, { scope: 'orders:domain', expires_in: '3600' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.issued_token_type, AT);
    assert.equal(
      res.json.scope,
      'orders:role.fading orders:role.readers orders:role.switch',
      'plain does not allow ID-token subjects; others does not list gw.edge',
    );
    const claims = decodeJwt(res.json.access_token);
    assert.equal(claims.sub, A);
    assert.equal(claims['client_id'], B);
    assert.deepEqual(claims['act'], { sub: B });
    assert.deepEqual(claims['exchanged_from'], [idClaims.jti]);
    assert.ok(claims.exp! <= idClaims.exp!, 'never longer than the ID token');
    const answer = await introspect(res.json.access_token);
    assert.equal(answer['active'], true);
    assert.deepEqual(answer['act'], { sub: B });
    await t.server.flushAudit();
    const audit = await t.admin$('GET', `/audit?type=token.issued&principal=${A}`);
    const events = audit.json.events as { actor: string; after: Record<string, unknown> }[];
    const event = events.find((e) => e.after['jti'] === claims.jti);
    assert.ok(event, audit.text);
    assert.deepEqual([event.actor, event.after['subject'], event.after['actors'], event.after['acting']], [B, A, [B], 'delegation']);
    assert.equal(event.after['subjectTokenType'], 'id_token');

    // Sent on to orders.api, which exchanges it as any access token: the chain nests.
    const on = decodeJwt(await exchanged(O, res.json.access_token, 'back:domain', AT));
    assert.deepEqual(on['act'], { sub: O, act: { sub: B } });
    assert.deepEqual(on['exchanged_from'], [claims.jti, idClaims.jti]);
    assert.equal(on['exchanged_from_id_token'], true, 'the chain started from an ID token');
    assert.equal(claims['exchanged_from_id_token'], true);
  });

  it('carries down the chain only roles that allow ID-token subjects', async () => {
    const held = await exchanged(B, await idTokenOf(), 'orders:role.readers');
    assertError(await exchange(O, held, { scope: 'back:role.plain' }, AT), 403, 'access_denied', /idTokenSubjects/);
    // A chain that started from an access token is not concerned.
    const fromAccess = await exchanged(B, (await tokens(A, 'gw:domain')).access, 'orders:role.readers', AT);
    assert.equal(decodeJwt(fromAccess)['exchanged_from_id_token'], undefined);
    assert.equal((await exchange(O, fromAccess, { scope: 'back:role.plain' }, AT)).status, 200);
  });

  it('ends the tokens exchanged from ID tokens when the role stops allowing ID-token subjects, and not the others', async () => {
    const fromId = await exchanged(B, await idTokenOf(), 'orders:role.switch');
    const fromAccess = await exchanged(B, (await tokens(A, 'gw:domain')).access, 'orders:role.switch', AT);
    assert.equal((await introspect(fromId))['active'], true);
    await putRole('orders', 'switch', { idTokenSubjects: false });
    assert.deepEqual(await introspect(fromId), { active: false });
    assert.equal((await introspect(fromAccess))['active'], true);
    await putRole('orders', 'switch', { idTokenSubjects: true });
    assert.equal((await introspect(fromId))['active'], true);
  });

  it('binds the token to the actor’s certificate when the actor authenticates with one', async () => {
    const cert = await tesseraCertificate(t, B);
    const id = await idTokenOf();
    const res = await postForm(t, { grant_type: GRANT, subject_token: id, subject_token_type: ID, scope: 'orders:role.readers' }, { client: cert });
    assert.equal(res.status, 200, res.text);
    const x509 = new X509Certificate(cert.certPem);
    assert.deepEqual(decodeJwt(res.json.access_token)['cnf'], { 'x5t#S256': createHash('sha256').update(x509.raw).digest('base64url') });
  });

  it('is refused where the role does not allow ID-token subjects, naming the setting, in any domain', async () => {
    const id = await idTokenOf();
    assertError(await exchange(B, id, { scope: 'orders:role.plain' }), 403, 'access_denied', /idTokenSubjects/);
    assertError(await exchange(B, id, { scope: 'other:role.readers' }), 403, 'access_denied', /idTokenSubjects/);
    assertError(await exchange(B, id, { scope: 'other:domain' }), 403, 'access_denied', /idTokenSubjects/);
    // The same roles are granted for an access token sent to gw.edge: the setting is about ID tokens only.
    assert.equal((await exchange(B, (await tokens(A, 'gw:domain')).access, { scope: 'orders:role.plain' }, AT)).status, 200);
  });

  it('is refused when the client is not the ID token’s audience, even one a role lists as an actor', async () => {
    const id = await idTokenOf();
    assertError(await exchange(X, id, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /this ID token was issued for gw\.edge.*not gw\.other/);
    assertError(await exchange(O, id, { scope: 'orders:role.others' }), 400, 'invalid_grant', /this ID token was issued for gw\.edge/);
  });

  it('is refused when the role does not list the client in its actors', async () => {
    const id = await idTokenOf();
    assertError(await exchange(B, id, { scope: 'orders:role.others' }), 403, 'access_denied', /gw.edge may not act for app.web.*actors/);
  });

  it('is refused once the subject no longer holds the role, and the token exchanged before ends', async () => {
    const id = await idTokenOf();
    const held = await exchanged(B, id, 'orders:role.fading');
    assert.equal((await introspect(held))['active'], true);
    await putRole('orders', 'fading', { members: [] });
    assertError(await exchange(B, id, { scope: 'orders:role.fading' }), 403, 'access_denied', /app.web holds none of the requested roles/);
    assert.deepEqual(await introspect(held), { active: false });
  });

  it('ends every token exchanged from a revoked ID token, revoked by its subject or by its audience, and no one else', async () => {
    for (const revoker of [A, B]) {
      const id = await idTokenOf();
      const held = await exchanged(B, id, 'orders:role.readers');
      const on = await exchanged(O, held, 'back:domain', AT);
      await revokeAs(X, id);
      assert.equal((await introspect(held))['active'], true, 'a third service cannot revoke it');
      await revokeAs(revoker, id);
      assert.deepEqual(await introspect(held), { active: false }, `revoked by ${revoker}`);
      assert.deepEqual(await introspect(on), { active: false });
      assertError(await exchange(B, id, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /subject_token is not acceptable: .*revoked/);
    }
  });

  it('refuses a type that does not match the token (invalid_request, naming the right one)', async () => {
    const { access, id } = await tokens(A, 'gw:domain openid gw:service.edge');
    assertError(
      await exchange(B, access, { scope: 'orders:role.readers' }, ID),
      400,
      'invalid_request',
      /an access token.*subject_token_type=urn:ietf:params:oauth:token-type:access_token/,
    );
    assertError(
      await exchange(B, id, { scope: 'orders:role.readers' }, AT),
      400,
      'invalid_request',
      /an ID token.*subject_token_type=urn:ietf:params:oauth:token-type:id_token/,
    );
  });

  it('refuses an ID token without a jti (issued before ID tokens carried one)', async () => {
    const now = Math.floor((Date.now() + offset) / 1000);
    const claims = { ...idTokenClaims({ issuer: t.server.config.issuer, principal: A, audience: B, issuedAt: now, lifetime: 600 }), jti: undefined };
    const old = await signIdTokenClaims(claims, t.server.signingKeys.current());
    assertError(
      await exchange(B, old, { scope: 'orders:role.readers' }),
      400,
      'invalid_grant',
      /an ID token without a jti, issued before .* ask app\.web for a new one/,
    );
  });

  it('refuses an access token with a malformed exchanged_from_id_token claim', async () => {
    const issuedAt = Math.floor((Date.now() + offset) / 1000);
    const base = accessTokenClaims({
      issuer: t.server.config.issuer,
      principal: A,
      audience: 'gw',
      scp: ['callers'],
      scope: 'gw:role.callers',
      issuedAt,
      lifetime: 600,
    });
    for (const extra of [{ exchanged_from_id_token: 'yes' }, { exchanged_from_id_token: true }]) {
      const crafted = await signAccessToken({ ...base, ...extra } as typeof base, t.server.signingKeys.current());
      assertError(await exchange(B, crafted, { scope: 'orders:role.plain' }, AT), 400, 'invalid_grant', /malformed exchanged_from_id_token claim/);
    }
  });

  it('refuses impersonation with an ID token', async () => {
    const id = await idTokenOf();
    assertError(await exchange(B, id, { scope: 'orders:role.readers', impersonation: 'true' }), 400, 'invalid_request', /impersonation.*ID token/);
  });

  it('refuses the ID token of a disabled subject, and of a subject deleted and registered again', async () => {
    const id = await idTokenOf('app.down');
    assert.equal((await t.admin$('PATCH', '/domains/app/services/down', { status: 'DISABLED' })).status, 200);
    assertError(await exchange(B, id, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /app.down is not an active service/);

    const again = await idTokenOf('app.again');
    assert.equal((await t.admin$('DELETE', '/domains/app/services/again')).status, 204);
    offset += 1500;
    await createService('app.again');
    assertError(await exchange(B, again, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /issued to an earlier service named app.again/);
  });

  it('refuses the actor’s own ID token: exchanging it changes nothing', async () => {
    const own = await idTokenOf(B);
    assertError(await exchange(B, own, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /gw.edge's own ID token/);
  });

  it('refuses the ID token of a subject that lost a registered key since it was issued', async () => {
    const put = await t.admin$('PUT', '/domains/app/services/keyed/keys/k1', { pem: await publicKeyPem(await newKeys()) });
    assert.ok(put.status < 300, put.text);
    const id = await idTokenOf('app.keyed');
    assert.equal((await exchange(B, id, { scope: 'orders:role.readers' })).status, 200);
    offset += 1000;
    assert.equal((await t.admin$('DELETE', '/domains/app/services/keyed/keys/k1')).status, 204);
    offset += 1000;
    assertError(
      await exchange(B, id, { scope: 'orders:role.readers' }),
      400,
      'invalid_grant',
      /not acceptable: a public key registered on app.keyed was removed/,
    );
  });

  it('refuses an expired ID token, also within the clock skew the signature check allows', async () => {
    const id = await idTokenOf(A, { expires_in: '20' });
    offset += 30_000;
    assertError(await exchange(B, id, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /subject_token is not acceptable: the token has expired/);
    offset += 60_000;
    assertError(await exchange(B, id, { scope: 'orders:role.readers' }), 400, 'invalid_grant', /subject_token is not acceptable: the token has expired/);
  });

  it('shows idTokenSubjects on the role, keeps it when a put leaves it out, and audits it', async () => {
    const got = await t.admin$('GET', '/domains/orders/roles/readers');
    assert.equal(got.json.idTokenSubjects, true);
    assert.equal((await t.admin$('GET', '/domains/orders/roles/plain')).json.idTokenSubjects, false);
    await putRole('orders', 'readers', { actors: [B, X] });
    assert.equal((await t.admin$('GET', '/domains/orders/roles/readers')).json.idTokenSubjects, true);
    await putRole('orders', 'readers', { idTokenSubjects: false });
    assert.equal((await t.admin$('GET', '/domains/orders/roles/readers')).json.idTokenSubjects, false);
    assertError(await exchange(B, await idTokenOf(), { scope: 'orders:role.readers' }), 403, 'access_denied', /idTokenSubjects/);
    await t.server.flushAudit();
    const audit = await t.admin$('GET', '/audit?type=role.put');
    const events = audit.json.events as { target: string; before: Record<string, unknown>; after: Record<string, unknown> }[];
    const last = events.find((e) => e.target === 'orders:role.readers' && e.before?.['idTokenSubjects'] === true);
    assert.ok(last, audit.text);
    assert.equal(last.after['idTokenSubjects'], false);
  });
});

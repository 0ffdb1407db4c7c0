// Review 9: attacks on ID tokens as token-exchange subject tokens (idTokenSubjects), their
// revocation, and DELETE /admin/v1/session, across certificate binding, introspection and the
// admin API. Each test is named after the safe behaviour. Tests marked HOLE fail on the code
// reviewed (they show the hole); the others are attacks that were refused and guard against
// regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, introspectAs, startTestServer, type TestServer, testRegistry } from '@tessera/testkit/server';
import { postForm, tesseraCertificate } from '../e2e/mtls-support.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
/** The subject: sends its ID token to the gateway. */
const A = 'app.web';
/** The gateway: the ID token's audience, an actor of orders:role.readers with idTokenSubjects. */
const B = 'gw.edge';

describe('review 9: ID tokens as subject tokens, revocation and sign-out across features', () => {
  let t: TestServer;
  const { secrets, createService, putRole } = testRegistry(() => t);
  const rs = { id: 'app.rs', secret: '' };

  const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
  const request = (principal: string, params: Record<string, string>): Promise<TestResponse> => t.token(principal, secrets.get(principal)!, params);
  const exchangeIdToken = (actor: string, idToken: string, scope: string): Promise<TestResponse> =>
    request(actor, { grant_type: GRANT, subject_token: idToken, subject_token_type: IDT, scope });
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  const revoke = (principal: string, token: string): Promise<TestResponse> =>
    t.send('/oauth2/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(principal, secrets.get(principal)!) },
      body: new URLSearchParams({ token }).toString(),
    });

  before(async () => {
    t = await startTestServer();
    for (const name of ['app', 'gw', 'orders', 'other']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of [A, B, 'app.rs', 'other.thief', 'other.admin', 'gw.admin']) await createService(principal);
    rs.secret = secrets.get('app.rs')!;
    await putRole('gw', 'callers', { members: members(A) });
    await putRole('orders', 'readers', { members: members(A), actors: [B], idTokenSubjects: true });
    await putRole('other', 'admin', { members: members('other.admin') });
    await putRole('gw', 'admin', { members: members('gw.admin') });
  });
  after(() => t.stop());

  describe('HOLE: an ID token got with a client certificate outlives the revocation of that certificate', () => {
    /** A thief with app.web's certificate and key asks for a token and an ID token for the gateway; the gateway exchanges it. */
    const stolenIdToken = async () => {
      const cert = await tesseraCertificate(t, A);
      const res = await postForm(t, { grant_type: 'client_credentials', scope: `gw:domain openid gw:service.edge` }, { client: cert });
      assert.equal(res.status, 200, res.text);
      const accessToken = res.json.access_token as string;
      const idToken = res.json.id_token as string;
      assert.ok(decodeJwt(accessToken)['cnf'], "the access token is bound to app.web's certificate");
      // The fix binds the ID token as the access token is (this line asserted the hole: no cnf at all).
      assert.deepEqual(decodeJwt(idToken)['cnf'], decodeJwt(accessToken)['cnf'], "the ID token is bound to app.web's certificate too");
      // Before the revocation, the gateway exchanges it (as designed), and the thief keeps the result's effect.
      const before = await exchangeIdToken(B, idToken, 'orders:role.readers');
      assert.equal(before.status, 200, before.text);
      const exchangedBefore = before.json.access_token as string;
      // The owner finds out and revokes the certificate for key compromise.
      assert.equal((await t.admin$('POST', `/certificates/${cert.serial}/revoke`, { reason: 'keyCompromise' })).status, 200);
      assert.deepEqual(await introspect(accessToken), { active: false }, 'the bound access token ends with its certificate');
      return { idToken, exchangedBefore };
    };

    it('refuses to exchange an ID token got over mutual TLS once that certificate is revoked (keyCompromise)', async () => {
      const { idToken } = await stolenIdToken();
      // The thief still holds the ID token: sent to the gateway, it is exchanged again for app.web's orders role.
      const afterRevocation = await exchangeIdToken(B, idToken, 'orders:role.readers');
      assert.equal(afterRevocation.status, 400, `the ID token got with the revoked certificate is still exchanged: ${afterRevocation.text}`);
    });

    it('ends a token exchanged from an ID token got over mutual TLS when that certificate is revoked (keyCompromise)', async () => {
      const { exchangedBefore } = await stolenIdToken();
      assert.deepEqual(await introspect(exchangedBefore), { active: false }, 'the token exchanged from it stays active after the certificate is revoked');
    });
  });

  describe('HOLE: token reuse hands out an ID token already revoked', () => {
    it('never hands out again an ID token revoked since (token reuse on)', async () => {
      const reuse = await startTestServer({
        edit: (config) => {
          config.tokenReuse = { enabled: true, window: 30 };
        },
      });
      try {
        for (const name of ['app', 'gw']) assert.equal((await reuse.admin$('POST', '/domains', { name })).status, 201);
        const created = await reuse.admin$('POST', '/domains/app/services', { name: 'web' });
        assert.equal(created.status, 201, created.text);
        const secret = created.json.clientSecret as string;
        assert.equal((await reuse.admin$('POST', '/domains/gw/services', { name: 'edge' })).status, 201);
        assert.ok([200, 201].includes((await reuse.admin$('PUT', '/domains/gw/roles/callers', { members: members(A) })).status));
        const ask = () => reuse.token(A, secret, { grant_type: 'client_credentials', scope: 'gw:domain openid gw:service.edge' });
        const first = await ask();
        assert.equal(first.status, 200, first.text);
        // app.web thinks its ID token leaked and revokes it (RFC 7009, as its subject).
        const revoked = await reuse.send('/oauth2/revoke', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(A, secret) },
          body: new URLSearchParams({ token: first.json.id_token as string }).toString(),
        });
        assert.equal(revoked.status, 200, revoked.text);
        const second = await ask();
        assert.equal(second.status, 200, second.text);
        assert.notEqual(second.json.id_token, first.json.id_token, 'the revoked ID token is handed out again from the reuse cache');
      } finally {
        await reuse.stop();
      }
    });
  });

  describe('refused correctly (regression guards)', () => {
    it('lets no one but the ID token audience exchange it, and no one but its subject or audience revoke it', async () => {
      const res = await request(A, { grant_type: 'client_credentials', scope: 'gw:domain openid gw:service.edge' });
      assert.equal(res.status, 200, res.text);
      const idToken = res.json.id_token as string;
      // A thief that a role also lists as an actor is not the audience.
      await putRole('orders', 'readers', { actors: [B, 'other.thief'] });
      try {
        const stolen = await exchangeIdToken('other.thief', idToken, 'orders:role.readers');
        assert.equal(stolen.status, 400, stolen.text);
        assert.match(stolen.json.error_description, /issued for gw\.edge: only gw\.edge/);
      } finally {
        await putRole('orders', 'readers', { actors: [B] });
      }
      // A stranger's revocation is answered 200 and changes nothing.
      assert.equal((await revoke('other.thief', idToken)).status, 200);
      const still = await exchangeIdToken(B, idToken, 'orders:role.readers');
      assert.equal(still.status, 200, still.text);
      const exchanged = still.json.access_token as string;
      assert.equal(decodeJwt(exchanged)['exchanged_from_id_token'], true);
      // The ID token as an access token: not at introspection, not at the admin API.
      assert.deepEqual(await introspect(idToken), { active: false });
      const admin = await t.send('/admin/v1/domains', { headers: { authorization: `Bearer ${idToken}` } });
      assert.equal(admin.status, 401, admin.text);
      // Its audience revokes it: the exchanged token ends, and the ID token is not exchanged again.
      assert.equal((await revoke(B, idToken)).status, 200);
      assert.deepEqual(await introspect(exchanged), { active: false });
      const again = await exchangeIdToken(B, idToken, 'orders:role.readers');
      assert.equal(again.status, 400, again.text);
      assert.match(again.json.error_description, /revoked/);
    });

    it('carries exchanged_from_id_token down a chain: a next hop gets only roles that allow ID-token subjects', async () => {
      await putRole('orders', 'writers', { members: members(A), actors: [B, 'other.thief'] });
      await putRole('other', 'callers', { members: members(A), actors: [B] });
      const res = await request(A, { grant_type: 'client_credentials', scope: 'gw:domain openid gw:service.edge' });
      const first = await exchangeIdToken(B, res.json.id_token as string, 'other:domain orders:role.readers');
      // other:role.callers does not allow ID-token subjects: only readers.
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(decodeJwt(first.json.access_token as string)['scp'], ['readers']);
      const refused = await exchangeIdToken(B, res.json.id_token as string, 'orders:role.writers');
      assert.equal(refused.status, 403, refused.text);
    });

    it('DELETE /admin/v1/session revokes only the bearer token itself, whatever the request names', async () => {
      const mine = (await request('other.admin', { grant_type: 'client_credentials', scope: 'other:role.admin' })).json.access_token as string;
      const victim = (await request('gw.admin', { grant_type: 'client_credentials', scope: 'gw:role.admin' })).json.access_token as string;
      const victimService = (await request(A, { grant_type: 'client_credentials', scope: 'gw:domain' })).json.access_token as string;
      const res = await t.send(`/admin/v1/session?token=${encodeURIComponent(victim)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${mine}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: victim }).toString(),
      });
      assert.ok(res.status === 204 || res.status === 400 || res.status === 415, res.text);
      // Whatever it answered, the other admin's token and the service's token are untouched.
      assert.equal((await t.admin$('GET', '/domains/gw/services', undefined, victim)).status, 200);
      assert.equal((await introspect(victimService)).active, true);
      // A service token with no admin role cannot sign out through it; an ID token is no bearer here.
      const plain = await t.send('/admin/v1/session', { method: 'DELETE', headers: { authorization: `Bearer ${victimService}` } });
      assert.equal(plain.status, 403, plain.text);
      assert.equal((await introspect(victimService)).active, true);
    });

    it('DELETE /admin/v1/session refuses a token another client holds for an admin (exchanged), leaving it active', async () => {
      await putRole('other', 'admin', { members: members('other.admin'), actors: [B] });
      try {
        const adminToken = (await request('other.admin', { grant_type: 'client_credentials', scope: 'other:role.admin' })).json.access_token as string;
        // other.admin sends its admin token to gw.edge (aud other ≠ gw): gw.edge may only exchange it toward other.
        const held = await request(B, { grant_type: GRANT, subject_token: adminToken, subject_token_type: AT, scope: 'other:role.admin' });
        assert.equal(held.status, 200, held.text);
        const res = await t.send('/admin/v1/session', { method: 'DELETE', headers: { authorization: `Bearer ${held.json.access_token}` } });
        assert.equal(res.status, 401, res.text);
        assert.equal((await introspect(adminToken)).active, true, "the admin's own token is not revoked by its holder's call");
      } finally {
        await putRole('other', 'admin', { members: members('other.admin'), actors: [] });
      }
    });
  });
});

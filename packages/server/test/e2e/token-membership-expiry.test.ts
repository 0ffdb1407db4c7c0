// Tokens never outlive the memberships that granted their roles: the token endpoint (every
// dialect: OAuth, Athenz's path, the service-account JSON dialect's /auth/token) ends a token no later than the first
// of them, and introspection re-checks them at every call. Over real HTTPS, with a server clock
// the tests move.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';

const SECOND = 1000;

describe('tokens and the memberships behind them', () => {
  let t: TestServer;
  // Mid-second, so whole-second rounding shows.
  let clock = Math.floor(Date.now() / SECOND) * SECOND + 400;
  let api: { id: string; secret: string };
  let rs: { id: string; secret: string };

  const iso = (ms: number): string => new Date(ms).toISOString();
  const register = async (domain: string, name: string): Promise<{ id: string; secret: string }> => {
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return { id: `${domain}.${name}`, secret: res.json.clientSecret as string };
  };
  const setMember = async (domain: string, role: string, principal: string, expiresAt: number | null): Promise<void> => {
    const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}/members/${principal}`, { expiresAt: expiresAt === null ? null : iso(expiresAt) });
    assert.ok(res.status === 200 || res.status === 201, res.text);
  };
  const issue = async (params: Record<string, string>, path = '/oauth2/token'): Promise<TestResponse> =>
    t.send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(api.id, api.secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString(),
    });
  const active = async (token: string): Promise<boolean> => {
    const res = await t.send('/oauth2/introspect', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(rs.id, rs.secret) },
      body: new URLSearchParams({ token }).toString(),
    });
    assert.equal(res.status, 200, res.text);
    return res.json.active as boolean;
  };

  before(async () => {
    t = await startTestServer({ now: () => clock });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    api = await register('alpha', 'api');
    rs = await register('beta', 'rs');
    for (const role of ['readers', 'temps']) assert.equal((await t.admin$('PUT', `/domains/beta/roles/${role}`, { members: [] })).status, 201);
    await setMember('beta', 'readers', 'alpha.api', null);
  });
  after(() => t.stop());

  describe('at the token endpoint', () => {
    it('ends the token no later than a membership ending in 5 s; the ID token no later than the access token', async () => {
      const end = clock + 5 * SECOND;
      await setMember('beta', 'temps', 'alpha.api', end);
      for (const path of ['/oauth2/token', '/zts/v1/oauth2/token']) {
        const res = await issue({ scope: 'beta:domain openid beta:service.rs', expires_in: '86400' }, path);
        assert.equal(res.status, 200, res.text);
        const access = decodeJwt(res.json.access_token as string);
        assert.ok(access.exp! * SECOND <= end, `${path}: exp ${access.exp} is after the membership's end ${end / SECOND}`);
        assert.equal(access.exp, Math.floor(end / SECOND), 'as long as the membership allows, in whole seconds');
        assert.equal(res.json.expires_in, access.exp! - access.iat!);
        assert.ok(decodeJwt(res.json.id_token as string).exp! <= access.exp!, 'the ID token outlives nothing');
      }
    });

    it("the service-account JSON dialect's /auth/token takes the same path", async () => {
      const end = clock + 5 * SECOND;
      await setMember('beta', 'temps', 'alpha.api', end);
      const res = await t.send('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grantType: 'client_credentials', clientId: api.id, clientSecret: api.secret, scope: 'beta:temps' }),
      });
      assert.equal(res.status, 200, res.text);
      assert.ok(decodeJwt(res.json.accessToken as string).exp! * SECOND <= end);
      assert.ok(res.json.expiresIn <= 5);
    });

    it('only memberships behind granted roles count: a short one not asked for does not shorten the token', async () => {
      await setMember('beta', 'temps', 'alpha.api', clock + 5 * SECOND);
      const res = await issue({ scope: 'beta:role.readers' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.expires_in, 3600);
    });

    it('a membership ending within the current second grants nothing (403 access_denied); one ending at the next second gives 1 s', async () => {
      const second = Math.floor(clock / SECOND) * SECOND;
      await setMember('beta', 'temps', 'alpha.api', second + 900);
      const refused = await issue({ scope: 'beta:role.temps' });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.json.error, 'access_denied');
      assert.match(refused.json.error_description, /holds none of the requested roles/);

      await setMember('beta', 'temps', 'alpha.api', second + SECOND);
      const brief = await issue({ scope: 'beta:role.temps' });
      assert.equal(brief.status, 200, brief.text);
      assert.equal(brief.json.expires_in, 1);
      assert.equal(decodeJwt(brief.json.access_token as string).exp, (second + SECOND) / SECOND);
    });
  });

  describe('at introspection', () => {
    it('a token is inactive once the membership behind one of its roles has ended', async () => {
      await setMember('beta', 'temps', 'alpha.api', null);
      const res = await issue({ scope: 'beta:domain' });
      assert.equal(res.status, 200, res.text);
      const token = res.json.access_token as string;
      assert.equal(res.json.expires_in, 3600);
      assert.equal(await active(token), true);

      // The membership's end is brought forward after the token was issued.
      await setMember('beta', 'temps', 'alpha.api', clock + 3 * SECOND);
      assert.equal(await active(token), true, 'still held');
      const saved = clock;
      try {
        clock += 4 * SECOND;
        assert.ok(decodeJwt(token).exp! * SECOND > clock, 'the token itself has not expired');
        assert.equal(await active(token), false, 'beta:role.temps is no longer held');
      } finally {
        clock = saved;
      }
    });

    it('a token is inactive once a member is removed from one of its roles', async () => {
      await setMember('beta', 'temps', 'alpha.api', null);
      const token = (await issue({ scope: 'beta:domain' })).json.access_token as string;
      assert.equal(await active(token), true);
      assert.equal((await t.admin$('DELETE', '/domains/beta/roles/temps/members/alpha.api')).status, 204);
      assert.equal(await active(token), false);
      assert.equal(await active((await issue({ scope: 'beta:domain' })).json.access_token as string), true, 'a new token has what is held');
    });
  });
});

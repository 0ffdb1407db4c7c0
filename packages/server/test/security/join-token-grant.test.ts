// Granting a service another domain's admin role voids the join tokens made for it before: its own
// domain's admins could make those (it held no such role then), and redeeming one afterwards would
// give them a certificate for a service that now acts as the other domain's admin. Black-box over
// HTTPS against a real server.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe("granting another domain's admin role voids the service's outstanding join tokens", () => {
  let t: TestServer;
  /** alpha:role.admin only. */
  let alphaAdmin: string;
  let offset = 0;

  const enroll = async (token: string): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: token } }),
    });
  const service = async (name: string): Promise<string> => {
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    return `alpha.${name}`;
  };
  const joinToken = async (principal: string, bearer = alphaAdmin): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', { principal, ttlSeconds: 3600 }, bearer);
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const assertSpent = (res: TestResponse): void => {
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error, 'invalid_proof', res.text);
    assert.match(res.json.message, /unknown, already used or expired/);
  };

  before(async () => {
    t = await startTestServer({ now: () => Date.now() + offset });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/admin', {})).status, 201);
    const admin = await t.admin$('POST', '/domains/alpha/services', { name: 'admin' });
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.admin' }] })).status, 201);
    const res = await t.token('alpha.admin', admin.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(res.status, 200, res.text);
    alphaAdmin = res.json.access_token as string;
  });
  after(() => t.stop());

  it("the review's reproduction: a join token made before the sys.auth admin grant is refused after it", async () => {
    const principal = await service('x');
    const token = await joinToken(principal);
    const grant = await t.admin$('PUT', `/domains/sys.auth/roles/admin/members/${principal}`, {});
    assert.equal(grant.status, 201, grant.text);
    assert.equal(grant.json.joinTokensVoided, 1, grant.text);
    assert.equal((await t.admin$('POST', '/join-tokens', { principal }, alphaAdmin)).status, 403);
    assertSpent(await enroll(token));
  });

  it('records the voiding in the audit trail, with the grant, never the token', async () => {
    const principal = await service('audited');
    const token = await joinToken(principal);
    const id = token.slice(4, 20);
    assert.equal((await t.admin$('PUT', `/domains/beta/roles/admin/members/${principal}`, {})).status, 201);
    const audit = await t.admin$('GET', `/audit?type=join-token.void&limit=50`);
    assert.equal(audit.status, 200, audit.text);
    const events = audit.json.events.filter((e: { target: string }) => e.target === principal);
    assert.equal(events.length, 1, audit.text);
    assert.deepEqual(events[0].after, { principal, grantedRole: 'beta:role.admin', joinTokensVoided: 1, ids: [id] });
    assert.ok(!audit.text.includes(token.slice(21)), 'the secret part is not in the audit trail');
  });

  it('voids them when the role is replaced with members that include the service', async () => {
    const principal = await service('replaced');
    const [one, two] = [await joinToken(principal), await joinToken(principal)];
    const res = await t.admin$('PUT', '/domains/beta/roles/admin', { members: [{ principal: 'alpha.audited' }, { principal }] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.joinTokensVoided, 2, res.text);
    assertSpent(await enroll(one));
    assertSpent(await enroll(two));
  });

  it("voids them when an expired membership of another domain's admin role is renewed", async () => {
    const principal = await service('renewed');
    const soon = new Date(Date.now() + offset + 60_000).toISOString();
    assert.equal((await t.admin$('PUT', `/domains/beta/roles/admin/members/${principal}`, { expiresAt: soon })).status, 201);
    offset += 120_000;
    const token = await joinToken(principal);
    const renewal = await t.admin$('PUT', `/domains/beta/roles/admin/members/${principal}`, {});
    assert.equal(renewal.status, 200, renewal.text);
    assert.equal(renewal.json.joinTokensVoided, 1, renewal.text);
    assertSpent(await enroll(token));
  });

  it("keeps join tokens through ordinary grants: its own domain's admin role, another domain's other roles", async () => {
    const principal = await service('ordinary');
    const token = await joinToken(principal);
    for (const path of [`/domains/alpha/roles/admin/members/${principal}`, `/domains/beta/roles/reader/members/${principal}`]) {
      if (path.includes('reader')) assert.equal((await t.admin$('PUT', '/domains/beta/roles/reader', {})).status, 201);
      const res = await t.admin$('PUT', path, {});
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.joinTokensVoided, 0, res.text);
    }
    const replaced = await t.admin$('PUT', '/domains/beta/roles/reader', { members: [{ principal }] });
    assert.equal(replaced.json.joinTokensVoided, 0, replaced.text);
    assert.equal((await enroll(token)).status, 201);
  });

  it("keeps a system admin's join token when an admin membership already held only changes its expiry", async () => {
    const principal = await service('held');
    assert.equal((await t.admin$('PUT', `/domains/beta/roles/admin/members/${principal}`, {})).status, 201);
    const token = await joinToken(principal, await t.adminToken());
    const later = new Date(Date.now() + offset + 86_400_000).toISOString();
    const res = await t.admin$('PUT', `/domains/beta/roles/admin/members/${principal}`, { expiresAt: later });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.joinTokensVoided, 0, res.text);
    assert.equal((await enroll(token)).status, 201);
  });

  it("voids none of another service's tokens", async () => {
    const [granted, bystander] = [await service('granted'), await service('bystander')];
    const token = await joinToken(bystander);
    const res = await t.admin$('PUT', `/domains/beta/roles/admin/members/${granted}`, {});
    assert.equal(res.json.joinTokensVoided, 0, res.text);
    assert.equal((await enroll(token)).status, 201);
  });
});

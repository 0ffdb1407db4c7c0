// Listing and revoking outstanding join tokens (GET /admin/v1/join-tokens?principal=,
// DELETE /admin/v1/join-tokens/{id}) over real HTTPS: who may, what is shown (never the token or
// its hash), pagination, and that a revoked token can no longer be redeemed.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('join-token inventory', () => {
  let t: TestServer;
  let alphaAdmin: string;
  let betaAdmin: string;

  const make = async (principal: string): Promise<{ token: string; id: string }> => {
    const res = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(res.status, 201, res.text);
    return { token: res.json.token as string, id: res.json.id as string };
  };
  const enroll = async (token: string): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: token } }),
    });
  const adminOf = async (domain: string): Promise<string> => {
    const made = await t.admin$('POST', `/domains/${domain}/services`, { name: 'admin' });
    assert.equal(made.status, 201, made.text);
    const members = { members: [{ principal: `${domain}.admin` }] };
    assert.equal((await t.admin$('PUT', `/domains/${domain}/roles/admin`, members)).status, 201);
    const scope = `${domain}:role.admin`;
    const res = await t.token(`${domain}.admin`, made.json.clientSecret, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['listed', 'paged', 'revoked']) {
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    }
    alphaAdmin = await adminOf('alpha');
    betaAdmin = await adminOf('beta');
  });
  after(() => t.stop());

  it("lists the outstanding tokens of a service to its domain's admin, never the token or its hash", async () => {
    const [first, used, last] = [await make('alpha.listed'), await make('alpha.listed'), await make('alpha.listed')];
    assert.equal((await enroll(used.token)).status, 201);
    const res = await t.admin$('GET', '/join-tokens?principal=alpha.listed', undefined, alphaAdmin);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.joinTokens.map((j: { id: string }) => j.id).sort(), [first.id, last.id].sort());
    assert.deepEqual(Object.keys(res.json.joinTokens[0]).sort(), ['createdAt', 'expiresAt', 'id', 'principal']);
    assert.equal(res.json.joinTokens[0].principal, 'alpha.listed');
    assert.equal(res.json.nextCursor, null);
    for (const { token } of [first, last]) assert.ok(!res.text.includes(token.slice(21)), 'no secret part in the list');
  });

  it('pages with ?limit= and ?cursor=, and refuses a bad limit or cursor (400)', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await make('alpha.paged')).id);
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const query = cursor === '' ? '' : `&cursor=${cursor}`;
      const res = await t.admin$('GET', `/join-tokens?principal=alpha.paged&limit=2${query}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.joinTokens.length <= 2);
      seen.push(...res.json.joinTokens.map((j: { id: string }) => j.id));
      cursor = res.json.nextCursor;
    }
    assert.deepEqual(seen.sort(), ids.sort(), 'every token once, none twice');
    assertError(await t.admin$('GET', '/join-tokens?principal=alpha.paged&limit=1001'), 400, 'invalid_request', /limit/);
    assertError(await t.admin$('GET', '/join-tokens?principal=alpha.paged&limit=0'), 400, 'invalid_request', /limit/);
    assertError(await t.admin$('GET', '/join-tokens?principal=alpha.paged&cursor=nope'), 400, 'invalid_request', /cursor/);
    assertError(await t.admin$('GET', '/join-tokens'), 400, 'invalid_request', /principal/);
    assertError(await t.admin$('GET', '/join-tokens?principal=Alpha'), 400, 'invalid_request', /principal/);
  });

  it("refuses another domain's admin listing (403) and revoking (404, as for an unknown id)", async () => {
    const { id } = await make('alpha.listed');
    assertError(await t.admin$('GET', '/join-tokens?principal=alpha.listed', undefined, betaAdmin), 403, 'forbidden', /may not/);
    assertError(await t.admin$('DELETE', `/join-tokens/${id}`, undefined, betaAdmin), 404, 'not_found', /there is no outstanding join token/);
    const res = await t.admin$('GET', '/join-tokens?principal=alpha.listed', undefined, alphaAdmin);
    assert.ok(
      res.json.joinTokens.some((j: { id: string }) => j.id === id),
      'still there',
    );
  });

  it("revokes a token for its domain's admin (204): it can no longer be redeemed, and is audited", async () => {
    const { token, id } = await make('alpha.revoked');
    const res = await t.admin$('DELETE', `/join-tokens/${id}`, undefined, alphaAdmin);
    assert.equal(res.status, 204, res.text);
    assertError(await enroll(token), 401, 'invalid_proof', /unknown, already used or expired/);
    const listed = await t.admin$('GET', '/join-tokens?principal=alpha.revoked', undefined, alphaAdmin);
    assert.deepEqual(listed.json.joinTokens, []);
    const audit = await t.admin$('GET', '/audit?type=join-token.delete&limit=5');
    assert.ok(audit.json.events.some((e: { target: string; actor: string }) => e.target === 'alpha.revoked' && e.actor === 'alpha.admin'));
  });

  it('answers 404 for an unknown, already revoked or used token id', async () => {
    const { token, id } = await make('alpha.revoked');
    assert.equal((await enroll(token)).status, 201);
    assertError(await t.admin$('DELETE', `/join-tokens/${id}`), 404, 'not_found', /no outstanding join token/);
    assertError(await t.admin$('DELETE', '/join-tokens/0123456789abcdef'), 404, 'not_found', /no outstanding join token/);
    assertError(await t.admin$('DELETE', '/join-tokens/not-an-id'), 404, 'not_found', /no outstanding join token/);
    const revoked = await make('alpha.revoked');
    assert.equal((await t.admin$('DELETE', `/join-tokens/${revoked.id}`)).status, 204);
    assertError(await t.admin$('DELETE', `/join-tokens/${revoked.id}`), 404, 'not_found', /no outstanding join token/);
  });
});

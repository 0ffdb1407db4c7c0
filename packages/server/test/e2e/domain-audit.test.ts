// A domain's timeline (GET /admin/v1/domains/{d}/audit): its admins see the changes made to the
// domain, its roles and members, its services and their credentials, with who made them and the
// before and after; narrowed to one service or role by `target`; and nothing of another domain.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe("a domain's audit timeline", () => {
  let t: TestServer;
  let alphaAdmin: string;
  const summary = (res: TestResponse): string[] => res.json.events.map((e: Record<string, string>) => `${e.actor} ${e.type} ${e.target}`).reverse();

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'alpha.sub', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const ops = await t.admin$('POST', '/domains/alpha/services', { name: 'ops' });
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    const res = await t.token('alpha.ops', ops.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    alphaAdmin = res.json.access_token;
    const as = (method: string, path: string, body?: unknown) => t.admin$(method, path, body, alphaAdmin);
    assert.equal((await as('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    assert.equal((await as('PUT', '/domains/alpha/roles/readers', { members: [{ principal: 'beta.web' }] })).status, 201);
    assert.equal((await as('PATCH', '/domains/alpha/services/api', { status: 'DISABLED' })).status, 200);
    assert.equal((await as('DELETE', '/domains/alpha/roles/readers/members/beta.web')).status, 204);
    assert.equal((await t.admin$('POST', '/domains/alpha.sub/services', { name: 'api' })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'web' })).status, 201);
  });
  after(() => t?.stop());

  it("shows a domain's admin every change about its domain, newest first, with before and after", async () => {
    const res = await t.admin$('GET', '/domains/alpha/audit', undefined, alphaAdmin);
    assert.equal(res.status, 200, res.text);
    const admin = t.admin.clientId;
    assert.deepEqual(summary(res), [
      `${admin} domain.create alpha`,
      `${admin} service.create alpha.ops`,
      `${admin} client-secret.add alpha.ops`,
      `${admin} role.put alpha:role.admin`,
      'alpha.ops service.create alpha.api',
      'alpha.ops client-secret.add alpha.api',
      'alpha.ops role.put alpha:role.readers',
      'alpha.ops service.update alpha.api',
      'alpha.ops role-member.delete alpha:role.readers',
    ]);
    const update = res.json.events.find((e: Record<string, unknown>) => e.type === 'service.update');
    assert.equal(update.before.status, 'ACTIVE');
    assert.equal(update.after.status, 'DISABLED');
    assert.ok(!Number.isNaN(Date.parse(update.at)));
  });

  it('narrows to one service or role with target, and to one kind with type', async () => {
    const api = await t.admin$('GET', '/domains/alpha/audit?target=alpha.api', undefined, alphaAdmin);
    assert.deepEqual(summary(api), ['alpha.ops service.create alpha.api', 'alpha.ops client-secret.add alpha.api', 'alpha.ops service.update alpha.api']);
    const role = await t.admin$('GET', `/domains/alpha/audit?target=${encodeURIComponent('alpha:role.readers')}`, undefined, alphaAdmin);
    assert.deepEqual(summary(role), ['alpha.ops role.put alpha:role.readers', 'alpha.ops role-member.delete alpha:role.readers']);
    const creates = await t.admin$('GET', '/domains/alpha/audit?type=service.create', undefined, alphaAdmin);
    assert.equal(creates.json.events.length, 2);
    const elsewhere = await t.admin$('GET', '/domains/alpha/audit?target=alpha.sub.api', undefined, alphaAdmin);
    assert.deepEqual(elsewhere.json.events, [], "alpha.sub's service is not alpha's");
  });

  it('pages with limit and cursor, and refuses a cursor of another timeline', async () => {
    const first = await t.admin$('GET', '/domains/alpha/audit?limit=4', undefined, alphaAdmin);
    assert.equal(first.json.events.length, 4);
    const rest = await t.admin$('GET', `/domains/alpha/audit?limit=100&cursor=${first.json.nextCursor}`, undefined, alphaAdmin);
    assert.equal(rest.json.events.length, 5);
    assert.equal(rest.json.nextCursor, null);
    assertError(await t.admin$('GET', `/domains/beta/audit?cursor=${first.json.nextCursor}`), 400, 'invalid_request', /cursor is not one this list gave out/);
    assertError(
      await t.admin$('GET', `/domains/alpha/audit?type=role.put&cursor=${first.json.nextCursor}`, undefined, alphaAdmin),
      400,
      'invalid_request',
      /cursor is not one this list gave out/,
    );
  });

  it("holds the domain's reviews and approval requests too", async () => {
    const beta = async (method: string, path: string, body?: unknown): Promise<TestResponse> => t.admin$(method, path, body);
    assert.equal((await beta('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.web' }] })).status, 201);
    const reviewBy = new Date(Date.now() + 86_400_000).toISOString();
    const extended = await beta('POST', '/reviews', { items: [{ domain: 'beta', role: 'readers', principal: 'beta.web' }], action: 'extend', reviewBy });
    assert.equal(extended.status, 200, extended.text);
    assert.equal((await beta('PATCH', '/domains/beta', { approvalRequiredRoles: ['readers'] })).status, 200);
    const held = await beta('DELETE', '/domains/beta/roles/readers/members/beta.web');
    assert.equal(held.status, 202, held.text);
    const events = await t.admin$('GET', '/domains/beta/audit?limit=5');
    assert.deepEqual(
      summary(events)
        .map((line) => line.split(' ').slice(1).join(' '))
        .slice(-4),
      ['role.put beta:role.readers', 'review.extend beta', 'domain.update beta', 'approval.request beta:role.readers'],
    );
  });

  it("refuses another domain's timeline, a bad name and bad parameters", async () => {
    assert.equal((await t.admin$('GET', '/domains/beta/audit', undefined, alphaAdmin)).status, 403);
    assert.equal((await t.admin$('GET', '/domains/alpha.sub/audit', undefined, alphaAdmin)).status, 403);
    assert.equal((await t.admin$('GET', '/domains/alpha/audit?since=yesterday', undefined, alphaAdmin)).status, 400);
    assert.equal((await t.admin$('GET', '/domains/alpha/audit?principal=x', undefined, alphaAdmin)).status, 400, 'not a parameter here');
    assert.equal((await t.admin$('GET', '/domains/..bad/audit')).status, 400);
    const sys = await t.admin$('GET', '/domains/beta/audit');
    assert.equal(sys.status, 200, 'a system admin sees every domain');
    assert.deepEqual(
      summary(sys)
        .map((line) => line.split(' ').slice(1).join(' '))
        .slice(0, 3),
      ['domain.create beta', 'service.create beta.web', 'client-secret.add beta.web'],
    );
  });
});

// Review 9: attacks on change approvals, membership reviews, who calls whom and the domain audit
// timeline, with a domain and a dotted domain under it (`alpha`, `alpha.sub`). Each test is named
// after the safe behaviour. Tests marked HOLE fail on the code reviewed (they show the hole); the
// others are attacks that were refused and guard against regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('review 9: approvals, reviews, callers and timelines across domains', () => {
  let t: TestServer;
  const secrets = new Map<string, string>();
  const token = async (principal: string, scope: string): Promise<string> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const members = (...principals: string[]) => principals.map((principal) => ({ principal }));

  before(async () => {
    t = await startTestServer();
    for (const name of ['pay', 'alpha', 'alpha.sub']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of ['pay.a1', 'pay.a2', 'pay.x', 'pay.y', 'pay.z', 'alpha.admin', 'alpha.sub.admin', 'alpha.sub.api', 'alpha.api']) {
      const dot = principal.lastIndexOf('.');
      const res = await t.admin$('POST', `/domains/${principal.slice(0, dot)}/services`, { name: principal.slice(dot + 1) });
      assert.equal(res.status, 201, res.text);
      secrets.set(principal, res.json.clientSecret as string);
    }
    for (const [domain, role, body] of [
      ['pay', 'admin', { members: members('pay.a1', 'pay.a2') }],
      ['pay', 'writers', { members: [] }],
      ['alpha', 'admin', { members: members('alpha.admin') }],
      ['alpha.sub', 'admin', { members: members('alpha.sub.admin') }],
      ['alpha.sub', 'readers', { members: members('alpha.sub.api'), reason: 'secret project' }],
      ['alpha', 'readers', { members: members('alpha.api') }],
    ] as const) {
      const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, body);
      assert.ok(res.status === 200 || res.status === 201, res.text);
    }
    assert.equal((await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['admin', 'writers'] })).status, 200);
  });
  after(() => t?.stop());

  describe('HOLE: a role PUT approved after other members were added silently removes them', () => {
    it('refuses (409) to approve a member-list replacement that would now also remove members added since it was requested', async () => {
      const a1 = await token('pay.a1', 'pay:role.admin');
      const a2 = await token('pay.a2', 'pay:role.admin');
      // a1 asks for writers = [pay.x]; the approver reads "add pay.x".
      const replace = await t.admin$('PUT', '/domains/pay/roles/writers', { members: members('pay.x') }, a1);
      assert.equal(replace.status, 202, replace.text);
      // Meanwhile a2 asks for pay.y, and a1 approves it.
      const add = await t.admin$('PUT', '/domains/pay/roles/writers/members/pay.y', {}, a2);
      assert.equal(add.status, 202, add.text);
      assert.equal((await t.admin$('POST', `/approvals/${add.json.id}/approve`, {}, a1)).status, 200);
      // a2 approves a1's change as it reads: the answer is 200, and pay.y, never shown in it, is gone.
      const approved = await t.admin$('POST', `/approvals/${replace.json.id}/approve`, {}, a2);
      const role = await t.admin$('GET', '/domains/pay/roles/writers');
      const now = role.json.members.map((m: { principal: string }) => m.principal);
      assert.equal(approved.status, 409, `approved, and the member list is now ${JSON.stringify(now)}: ${approved.text}`);
      assert.ok(now.includes('pay.y'), 'pay.y, approved since, is still a member');
    });

    it('refuses (409) to approve a member-list replacement that would now re-add a member removed since it was requested', async () => {
      const a1 = await token('pay.a1', 'pay:role.admin');
      const a2 = await token('pay.a2', 'pay:role.admin');
      const setUp = await t.admin$('PUT', '/domains/pay/roles/writers', { members: members('pay.x', 'pay.y') });
      assert.equal(setUp.status, 202, setUp.text);
      assert.equal((await t.admin$('POST', `/approvals/${setUp.json.id}/approve`, {}, a1)).status, 200);
      // a1 asks to add pay.z by sending the whole list as it stands: [pay.x, pay.y, pay.z].
      const replace = await t.admin$('PUT', '/domains/pay/roles/writers', { members: members('pay.x', 'pay.y', 'pay.z') }, a1);
      assert.equal(replace.status, 202, replace.text);
      // pay.y is found compromised: its removal is requested and approved.
      const remove = await t.admin$('DELETE', '/domains/pay/roles/writers/members/pay.y', undefined, a2);
      assert.equal(remove.status, 202, remove.text);
      assert.equal((await t.admin$('POST', `/approvals/${remove.json.id}/approve`, {}, a1)).status, 200);
      // a2 approves "add pay.z": pay.y is back.
      const approved = await t.admin$('POST', `/approvals/${replace.json.id}/approve`, {}, a2);
      const role = await t.admin$('GET', '/domains/pay/roles/writers');
      const now = role.json.members.map((m: { principal: string }) => m.principal);
      assert.equal(approved.status, 409, `approved, and the member list is now ${JSON.stringify(now)}: ${approved.text}`);
      assert.ok(!now.includes('pay.y'), 'pay.y, removed since, stays removed');
    });
  });

  describe('refused correctly (regression guards)', () => {
    it("keeps alpha.sub's timeline, callers, approvals and reviews out of alpha's admin's reach", async () => {
      const alphaAdmin = await token('alpha.admin', 'alpha:role.admin');
      await token('alpha.sub.api', 'alpha.sub:role.readers');
      await token('alpha.api', 'alpha:role.readers');
      await t.server.flushAudit();
      const timeline = await t.admin$('GET', '/domains/alpha/audit?limit=1000', undefined, alphaAdmin);
      assert.equal(timeline.status, 200, timeline.text);
      const targets = timeline.json.events.map((e: { target: string }) => e.target);
      assert.ok(targets.includes('alpha.api'));
      assert.ok(!targets.some((target: string) => target.startsWith('alpha.sub')), JSON.stringify(targets));
      const narrowed = await t.admin$('GET', '/domains/alpha/audit?target=alpha.sub.api', undefined, alphaAdmin);
      assert.deepEqual(narrowed.json.events ?? [], []);
      const roleTarget = await t.admin$('GET', `/domains/alpha/audit?target=${encodeURIComponent('alpha.sub:role.readers')}`, undefined, alphaAdmin);
      assert.deepEqual(roleTarget.json.events ?? [], []);
      assert.equal((await t.admin$('GET', '/domains/alpha.sub/audit', undefined, alphaAdmin)).status, 403);
      const callers = await t.admin$('GET', '/domains/alpha/callers', undefined, alphaAdmin);
      const principals = callers.json.callers.map((c: { principal: string }) => c.principal);
      assert.ok(principals.includes('alpha.api') && !principals.includes('alpha.sub.api'), JSON.stringify(principals));
      const series = await t.admin$('GET', '/domains/alpha/callers/series?principal=alpha.sub.api', undefined, alphaAdmin);
      assert.deepEqual(series.json.points, []);
      assert.equal((await t.admin$('GET', '/domains/alpha.sub/callers', undefined, alphaAdmin)).status, 403);
      // A cursor of alpha.sub's list is not a position in alpha's.
      const sub = await t.admin$('GET', '/domains/alpha.sub/audit?limit=1');
      assert.ok(sub.json.nextCursor);
      const tampered = await t.admin$('GET', `/domains/alpha/audit?limit=1&cursor=${sub.json.nextCursor}`, undefined, alphaAdmin);
      assert.equal(tampered.status, 400, tampered.text);
      // Reviews: an item of alpha.sub is refused to alpha's admin, and the list names none.
      const review = await t.admin$(
        'POST',
        '/reviews',
        { items: [{ domain: 'alpha.sub', role: 'readers', principal: 'alpha.sub.api' }], action: 'remove' },
        alphaAdmin,
      );
      assert.equal(review.status, 403, review.text);
      const list = await t.admin$('GET', '/reviews?within=315360000', undefined, alphaAdmin);
      assert.ok(!list.json.memberships.some((m: { domain: string }) => m.domain !== 'alpha'), list.text);
      assert.equal((await t.admin$('GET', '/domains/pay/approvals', undefined, alphaAdmin)).status, 403);
    });

    it("a lone admin's other routes around the second-admin rule are held or refused", async () => {
      const a1 = await token('pay.a1', 'pay:role.admin');
      // Delete and re-create the gated role: the delete is held.
      assert.equal((await t.admin$('DELETE', '/domains/pay/roles/writers', undefined, a1)).status, 202);
      // Bulk members and reviews are held.
      const bulk = await t.admin$('POST', '/domains/pay/roles/writers/members', { members: members('pay.a1') }, a1);
      assert.equal(bulk.status, 202, bulk.text);
      const review = await t.admin$('POST', '/reviews', { items: [{ domain: 'pay', role: 'admin', principal: 'pay.a2' }], action: 'remove', reason: 'x' }, a1);
      assert.equal(review.status, 202, review.text);
      // The service-account dialect may not grant a gated role.
      const sa = await t.send('/auth/admin/service-accounts', {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bot', scopes: ['pay:writers'] }),
      });
      assert.ok(sa.status === 409 || sa.status === 404, sa.text);
      // The requester cannot approve its own bulk change.
      const own = await t.admin$('POST', `/approvals/${bulk.json.id}/approve`, {}, a1);
      assert.equal(own.status, 403, own.text);
    });
  });
});

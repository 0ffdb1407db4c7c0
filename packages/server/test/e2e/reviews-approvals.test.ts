// Membership reviews (reviewBy, GET and POST /admin/v1/reviews) and changes that need a second
// admin (approvalRequiredRoles, /admin/v1/domains/{d}/approvals, /admin/v1/approvals/{id}) over
// real HTTPS, with the audit events they leave.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertAdminError(res: TestResponse, status: number, error: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  if (message) assert.match(res.json.message, message);
}

const DAY = 24 * 60 * 60 * 1000;

describe('membership reviews and change approvals', () => {
  let t: TestServer;
  let root: string;
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const at = (ms: number): string => new Date(now() + ms).toISOString();
  /** Tokens of domain admins: pay.a1 and pay.a2 administer pay, ops.o1 administers ops. */
  const tokens: Record<string, string> = {};

  /** Client secrets of the domain admins, for tokens after the clock moved. */
  const secrets: Record<string, string> = {};

  async function makeAdmin(domain: string, name: string): Promise<string> {
    const svc = await t.admin$('POST', `/domains/${domain}/services`, { name }, root);
    assert.equal(svc.status, 201, svc.text);
    secrets[`${domain}.${name}`] = svc.json.clientSecret;
    // Straight through the store: the admin role of pay needs approval in some tests.
    await t.server.store.putRoleMember(domain, 'admin', { principal: `${domain}.${name}`, expiresAt: null }, { actor: 'test' });
    const res = await t.token(`${domain}.${name}`, svc.json.clientSecret, { grant_type: 'client_credentials', scope: `${domain}:role.admin` });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  }

  /** The events of `type`, newest first (arbitrary JSON, as TestResponse.json is). */
  async function auditOf(type: string): Promise<{ actor: string; target: string; before: TestResponse['json']; after: TestResponse['json'] }[]> {
    const res = await t.admin$('GET', `/audit?type=${type}`, undefined, root);
    assert.equal(res.status, 200, res.text);
    return res.json.events;
  }

  before(async () => {
    t = await startTestServer({ now });
    root = await t.adminToken();
    for (const name of ['pay', 'ops', 'hr']) assert.equal((await t.admin$('POST', '/domains', { name }, root)).status, 201);
    for (const [domain, role] of [
      ['pay', 'admin'],
      ['ops', 'admin'],
      ['pay', 'readers'],
      ['pay', 'writers'],
      ['ops', 'readers'],
      ['hr', 'readers'],
    ]) {
      assert.equal((await t.admin$('PUT', `/domains/${domain}/roles/${role}`, {}, root)).status, 201);
    }
    tokens.a1 = await makeAdmin('pay', 'a1');
    tokens.a2 = await makeAdmin('pay', 'a2');
    tokens.o1 = await makeAdmin('ops', 'o1');
  });
  after(() => t.stop());

  describe('reviewBy on memberships', () => {
    it('is accepted wherever members are written and returned wherever they are shown', async () => {
      const reviewBy = at(30 * DAY);
      const put = await t.admin$('PUT', '/domains/pay/roles/readers/members/x.one', { reviewBy, reason: 'quarterly access' }, tokens.a1);
      assert.equal(put.status, 201, put.text);
      assert.equal(put.json.reviewBy, reviewBy);
      const bulk = await t.admin$(
        'POST',
        '/domains/pay/roles/readers/members',
        { members: [{ principal: 'x.two', reviewBy }, { principal: 'x.three' }] },
        tokens.a1,
      );
      assert.equal(bulk.status, 200, bulk.text);
      const role = await t.admin$('GET', '/domains/pay/roles/readers', undefined, tokens.a1);
      assert.deepEqual(role.json.members, [
        { principal: 'x.one', expiresAt: null, reviewBy },
        { principal: 'x.three', expiresAt: null, reviewBy: null },
        { principal: 'x.two', expiresAt: null, reviewBy },
      ]);
      const members = await t.admin$('GET', '/domains/pay/roles/readers/members?limit=1', undefined, tokens.a1);
      assert.deepEqual(members.json.members, [{ principal: 'x.one', expiresAt: null, reviewBy }]);
      const replaced = await t.admin$('PUT', '/domains/ops/roles/readers', { members: [{ principal: 'y.one', reviewBy }] }, tokens.o1);
      assert.equal(replaced.status, 200, replaced.text);
      assert.deepEqual(replaced.json.members, [{ principal: 'y.one', expiresAt: null, reviewBy }]);
      // The audit event of the member write records the reason and the membership before and after.
      const [event] = await auditOf('role-member.put');
      assert.equal(event!.target, 'pay:role.readers');
      assert.deepEqual(event!.before, null);
      assert.deepEqual(event!.after, { principal: 'x.one', expiresAt: null, reviewBy: Date.parse(reviewBy), reason: 'quarterly access' });
    });

    it('400 for a date that is not one, or one in the past, on every route', async () => {
      const past = at(-60_000);
      for (const [method, path, body] of [
        ['PUT', '/domains/pay/roles/readers/members/x.one', { reviewBy: 'next tuesday' }],
        ['PUT', '/domains/pay/roles/readers/members/x.one', { reviewBy: past }],
        ['POST', '/domains/pay/roles/readers/members', { members: [{ principal: 'x.one', reviewBy: past }] }],
        ['PUT', '/domains/pay/roles/readers', { members: [{ principal: 'x.one', reviewBy: past }] }],
        ['PUT', '/domains/pay/roles/readers/members/x.one', { reason: 'x'.repeat(501) }],
      ] as const) {
        assertAdminError(await t.admin$(method, path, body, tokens.a1), 400, 'invalid_request');
      }
      const res = await t.admin$('PUT', '/domains/pay/roles/readers/members/x.one', { reviewBy: past }, tokens.a1);
      assert.match(res.json.message, /reviewBy must be in the future/);
    });

    it('a membership past its review date still grants', async () => {
      const svc = await t.admin$('POST', '/domains/hr/services', { name: 'clerk' }, root);
      await t.admin$('PUT', '/domains/hr/roles/readers/members/hr.clerk', { reviewBy: at(60_000) }, root);
      offset += 120_000;
      try {
        const res = await t.token('hr.clerk', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'hr:role.readers' });
        assert.equal(res.status, 200, res.text);
        const due = await t.admin$('GET', '/reviews?within=0', undefined, root);
        const clerk = due.json.memberships.find((m: { principal: string }) => m.principal === 'hr.clerk');
        assert.deepEqual(clerk.reason, ['review-due']);
      } finally {
        await t.admin$('DELETE', '/domains/hr/roles/readers/members/hr.clerk', undefined, root);
      }
    });
  });

  describe('GET /reviews', () => {
    it('lists what is due or expiring within the window, earliest first, in the domains the caller administers', async () => {
      await t.admin$(
        'POST',
        '/domains/pay/roles/writers/members',
        {
          members: [
            { principal: 'w.review', reviewBy: at(2 * DAY) },
            { principal: 'w.expiry', expiresAt: at(1 * DAY) },
            { principal: 'w.both', expiresAt: at(3 * DAY), reviewBy: at(3 * DAY - 1000) },
            { principal: 'w.later', reviewBy: at(40 * DAY) },
          ],
        },
        root,
      );
      await t.admin$('PUT', '/domains/ops/roles/readers/members/o.soon', { expiresAt: at(DAY / 2) }, root);
      const mine = await t.admin$('GET', '/reviews', undefined, tokens.a1);
      assert.equal(mine.status, 200, mine.text);
      const shown = mine.json.memberships.map((m: { domain: string; principal: string; reason: string[] }) => [m.domain, m.principal, m.reason]);
      assert.deepEqual(shown, [
        ['pay', 'w.expiry', ['expiring']],
        ['pay', 'w.review', ['review-due']],
        ['pay', 'w.both', ['review-due', 'expiring']],
      ]);
      assert.deepEqual(Object.keys(mine.json.memberships[0]).sort(), ['domain', 'expiresAt', 'principal', 'reason', 'reviewBy', 'role']);
      // A system admin sees every domain; a longer window takes the later one.
      const all = await t.admin$('GET', `/reviews?within=${50 * 86400}`, undefined, root);
      const principals = all.json.memberships.map((m: { principal: string }) => m.principal);
      assert.deepEqual(principals.slice(0, 4), ['o.soon', 'w.expiry', 'w.review', 'w.both']);
      assert.ok(principals.includes('w.later') && principals.includes('x.one') && principals.includes('y.one'));
      // Page by page, the same list.
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page: TestResponse = await t.admin$('GET', `/reviews?within=${50 * 86400}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, undefined, root);
        assert.equal(page.status, 200, page.text);
        paged.push(...page.json.memberships.map((m: { principal: string }) => m.principal));
        cursor = page.json.nextCursor;
      } while (cursor);
      assert.deepEqual(paged, principals);
    });

    it('400 for a bad window or a cursor of another window', async () => {
      for (const within of ['-1', 'soon', '1.5', '999999999999']) {
        assertAdminError(await t.admin$('GET', `/reviews?within=${within}`, undefined, root), 400, 'invalid_request');
      }
      const first = await t.admin$('GET', `/reviews?within=${50 * 86400}&limit=1`, undefined, root);
      assertAdminError(await t.admin$('GET', `/reviews?limit=1&cursor=${first.json.nextCursor}`, undefined, root), 400, 'invalid_request');
    });
  });

  describe('POST /reviews', () => {
    it('extends: a new review date and expiry for each item, one audit event per domain', async () => {
      const reviewBy = at(90 * DAY);
      const expiresAt = at(365 * DAY);
      const res = await t.admin$(
        'POST',
        '/reviews',
        {
          items: [
            { domain: 'pay', role: 'writers', principal: 'w.review' },
            { domain: 'ops', role: 'readers', principal: 'o.soon' },
          ],
          action: 'extend',
          reviewBy,
          expiresAt,
          reason: 'reviewed with the team',
        },
        root,
      );
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { changed: 2, joinTokensVoided: 0, pending: [] });
      const members = (await t.admin$('GET', '/domains/ops/roles/readers/members', undefined, root)).json.members;
      assert.deepEqual(
        members.find((m: { principal: string }) => m.principal === 'o.soon'),
        { principal: 'o.soon', expiresAt, reviewBy },
      );
      const events = (await auditOf('review.extend')).slice(0, 2);
      assert.deepEqual(events.map((e) => e.target).sort(), ['ops', 'pay']);
      const pay = events.find((e) => e.target === 'pay')!;
      assert.equal(pay.after.reason, 'reviewed with the team');
      assert.deepEqual(Object.keys(pay.before.members[0]).sort(), ['expiresAt', 'principal', 'reviewBy', 'role']);
      assert.deepEqual([pay.before.members[0].principal, pay.before.members[0].expiresAt], ['w.review', null]);
      assert.deepEqual(pay.after.members, [{ principal: 'w.review', expiresAt: Date.parse(expiresAt), reviewBy: Date.parse(reviewBy), role: 'writers' }]);
    });

    it('removes the memberships', async () => {
      await t.admin$('PUT', '/domains/pay/roles/writers/members/w.gone', {}, root);
      const res = await t.admin$('POST', '/reviews', { items: [{ domain: 'pay', role: 'writers', principal: 'w.gone' }], action: 'remove' }, tokens.a1);
      assert.equal(res.status, 200, res.text);
      const members = (await t.admin$('GET', '/domains/pay/roles/writers/members', undefined, root)).json.members;
      assert.ok(!members.some((m: { principal: string }) => m.principal === 'w.gone'));
      assert.equal((await auditOf('review.remove'))[0]!.actor, 'pay.a1');
    });

    it('refuses the whole action when one item is of a domain the caller does not administer, or not a membership', async () => {
      const items = [
        { domain: 'pay', role: 'writers', principal: 'w.later' },
        { domain: 'ops', role: 'readers', principal: 'y.one' },
        { domain: 'hr', role: 'readers', principal: 'nobody.here' },
      ];
      const refused = await t.admin$('POST', '/reviews', { items, action: 'remove' }, tokens.a1);
      assertAdminError(refused, 403, 'forbidden', /does not administer hr, ops; nothing was changed/);
      const missing = await t.admin$('POST', '/reviews', { items, action: 'remove' }, root);
      assertAdminError(missing, 404, 'not_found', /nobody\.here is not a member of hr:role\.readers/);
      const writers = (await t.admin$('GET', '/domains/pay/roles/writers/members', undefined, root)).json.members;
      assert.ok(
        writers.some((m: { principal: string }) => m.principal === 'w.later'),
        'nothing removed',
      );
    });

    it('400 for a bad request: no items, 1,001 items, duplicates, extend without a future reviewBy, remove with dates', async () => {
      const item = { domain: 'pay', role: 'writers', principal: 'w.later' };
      const many = Array.from({ length: 1001 }, (_, i) => ({ domain: 'pay', role: 'writers', principal: `m.p${i}` }));
      for (const body of [
        { items: [], action: 'remove' },
        { items: many, action: 'remove' },
        { items: [item, item], action: 'remove' },
        { items: [item], action: 'extend' },
        { items: [item], action: 'extend', reviewBy: at(-1000) },
        { items: [item], action: 'extend', reviewBy: 'soon' },
        { items: [item], action: 'remove', reviewBy: at(DAY) },
        { items: [item], action: 'archive' },
        { items: [{ ...item, domain: 'Pay' }], action: 'remove' },
      ]) {
        assertAdminError(await t.admin$('POST', '/reviews', body, root), 400, 'invalid_request');
      }
    });
  });

  describe('approvals', () => {
    const pending = async (domain: string, token = tokens.a1): Promise<{ id: string; kind: string }[]> => {
      const res = await t.admin$('GET', `/domains/${domain}/approvals`, undefined, token);
      assert.equal(res.status, 200, res.text);
      return res.json.approvals;
    };

    before(async () => {
      const res = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['writers', 'vault', 'ghost'] }, tokens.a1);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.approvalRequiredRoles, ['ghost', 'vault', 'writers']);
      assert.deepEqual((await t.admin$('GET', '/domains/pay', undefined, tokens.a1)).json.approvalRequiredRoles, ['ghost', 'vault', 'writers']);
      assert.equal((await t.admin$('PUT', '/domains/pay/roles/vault', {}, tokens.a1)).status, 201, 'an empty role is created at once');
    });

    it('400 for a role name that is not one', async () => {
      assertAdminError(await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['Bad Name'] }, tokens.a1), 400, 'invalid_request');
    });

    it('a member change waits for a second admin, who applies it; the audit names both', async () => {
      const res = await t.admin$('PUT', '/domains/pay/roles/writers/members/w.new', { reviewBy: at(DAY * 10), reason: 'ticket 42' }, tokens.a1);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.kind, 'member.put');
      assert.equal(res.json.requestedBy, 'pay.a1');
      assert.equal(res.json.role, 'writers');
      assert.equal(Date.parse(res.json.expiresAt) - Date.parse(res.json.requestedAt), 7 * DAY);
      assert.deepEqual(res.json.change.body.reason, 'ticket 42');
      const members = async () =>
        (await t.admin$('GET', '/domains/pay/roles/writers/members', undefined, root)).json.members.map((m: { principal: string }) => m.principal);
      assert.ok(!(await members()).includes('w.new'), 'not applied yet');
      assert.deepEqual(
        (await pending('pay')).map((p) => p.id),
        [res.json.id],
      );

      assertAdminError(await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, tokens.a1), 403, 'forbidden', /a second admin of pay must approve/);
      assertAdminError(await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, tokens.o1), 404, 'not_found');
      assertAdminError(await t.admin$('GET', '/domains/pay/approvals', undefined, tokens.o1), 403, 'forbidden');
      assertAdminError(await t.admin$('POST', '/approvals/chg_0000000000000000/approve', {}, tokens.a2), 404, 'not_found');
      assertAdminError(await t.admin$('POST', '/approvals/nonsense/approve', {}, tokens.a2), 404, 'not_found');
      // Nothing is held that could never apply.
      assertAdminError(await t.admin$('DELETE', '/domains/pay/roles/writers/members/no.member', undefined, tokens.a1), 404, 'not_found', /not a member/);
      assertAdminError(await t.admin$('PUT', '/domains/pay/roles/ghost/members/x.y', {}, tokens.a1), 404, 'not_found');

      const approved = await t.admin$('POST', `/approvals/${res.json.id}/approve`, { reason: 'checked' }, tokens.a2);
      assert.equal(approved.status, 200, approved.text);
      assert.equal(approved.json.approval.status, 'approved');
      assert.equal(approved.json.approval.decidedBy, 'pay.a2');
      assert.equal(approved.json.status, 201);
      assert.ok((await members()).includes('w.new'));
      assert.deepEqual(await pending('pay'), []);
      assertAdminError(await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, root), 409, 'conflict', /already approved/);

      const [applied] = await auditOf('role-member.put');
      assert.equal(applied!.actor, 'pay.a2');
      assert.equal(applied!.after.reason, 'ticket 42');
      assert.deepEqual(applied!.after.approval, { id: res.json.id, requestedBy: 'pay.a1', approvedBy: 'pay.a2' });
      const [requested] = await auditOf('approval.request');
      assert.equal(requested!.actor, 'pay.a1');
      assert.equal(requested!.target, 'pay:role.writers');
      const [approval] = await auditOf('approval.approve');
      assert.deepEqual([approval!.actor, approval!.after.requestedBy, approval!.after.outcome], ['pay.a2', 'pay.a1', 'checked']);
    });

    it('every kind of member change of such a role waits: bulk, removal, role PUT with members, role DELETE', async () => {
      const before = (await pending('pay')).length;
      const answers = [
        await t.admin$('POST', '/domains/pay/roles/writers/members', { members: [{ principal: 'w.bulk' }] }, tokens.a1),
        await t.admin$('DELETE', '/domains/pay/roles/writers/members/w.new?reason=left', undefined, tokens.a1),
        await t.admin$('PUT', '/domains/pay/roles/writers', { members: [] }, tokens.a1),
        await t.admin$('PUT', '/domains/pay/roles/writers', { actors: ['pay.a1'] }, tokens.a1),
        await t.admin$('DELETE', '/domains/pay/roles/writers', undefined, root),
      ];
      assert.deepEqual(
        answers.map((a) => [a.status, a.json.kind]),
        [
          [202, 'members.post'],
          [202, 'member.delete'],
          [202, 'role.put'],
          [202, 'role.put'],
          [202, 'role.delete'],
        ],
      );
      assert.equal((await pending('pay')).length, before + 5);
      // A setting that changes no member applies at once.
      assert.equal((await t.admin$('PUT', '/domains/pay/roles/writers', { tokenMaxLifetime: 600 }, tokens.a1)).status, 200);
      for (const answer of answers) {
        const rejected = await t.admin$(
          'POST',
          `/approvals/${answer.json.id}/reject`,
          { reason: 'tidy up' },
          answer.json.requestedBy === 'pay.a1' ? tokens.a1 : root,
        );
        assert.equal(rejected.status, 200, rejected.text);
        assert.equal(rejected.json.status, 'rejected');
        assert.equal(rejected.json.outcome, 'tidy up');
      }
      assert.equal((await pending('pay')).length, before);
      assertAdminError(await t.admin$('POST', `/approvals/${answers[0]!.json.id}/approve`, {}, tokens.a2), 409, 'conflict', /already rejected/);
      assert.equal((await auditOf('approval.reject')).length, 5);
    });

    it('a held role PUT is refused (409, failed) only when what it replaces changed since it was requested', async () => {
      // Replacing the actors: a member added since does not make it stale.
      const actors = await t.admin$('PUT', '/domains/pay/roles/writers', { actors: ['pay.a2'] }, tokens.a1);
      const members = await t.admin$('PUT', '/domains/pay/roles/writers', { members: [{ principal: 'w.basis' }] }, tokens.a1);
      const added = await t.admin$('PUT', '/domains/pay/roles/writers/members/w.since', {}, tokens.a1);
      assert.equal((await t.admin$('POST', `/approvals/${added.json.id}/approve`, {}, tokens.a2)).status, 200);
      const approved = await t.admin$('POST', `/approvals/${actors.json.id}/approve`, {}, tokens.a2);
      assert.equal(approved.status, 200, approved.text);
      // Replacing the members: refused, and failed, naming what changed.
      const stale = await t.admin$('POST', `/approvals/${members.json.id}/approve`, {}, tokens.a2);
      assertAdminError(stale, 409, 'conflict', /pay:role\.writers changed \(members\) since this change was requested.*request it again/);
      assert.equal(
        (await t.admin$('GET', '/domains/pay/roles/writers', undefined, root)).json.members.some((m: { principal: string }) => m.principal === 'w.since'),
        true,
      );
      const failed = (await t.admin$('GET', `/domains/pay/approvals`, undefined, root)).json.approvals.find((c: { id: string }) => c.id === members.json.id);
      assert.equal(failed, undefined, 'no longer pending');
    });

    it('a service account cannot be given such a role as a scope, which would need no approval', async () => {
      const res = await t.send('/auth/admin/service-accounts', {
        method: 'POST',
        headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sneaky', scopes: ['pay:writers'] }),
      });
      assert.equal(res.status, 409, res.text);
      assert.match(res.json.message, /pay:role\.writers needs a second admin's approval/);
      const members = (await t.admin$('GET', '/domains/pay/roles/writers/members', undefined, root)).json.members;
      assert.ok(!members.some((m: { principal: string }) => m.principal.endsWith('.sneaky')));
    });

    it('a system admin approves what another admin requested, never what it requested', async () => {
      const own = await t.admin$('PUT', '/domains/pay/roles/vault/members/v.root', {}, root);
      assert.equal(own.status, 202, own.text);
      assertAdminError(await t.admin$('POST', `/approvals/${own.json.id}/approve`, {}, root), 403, 'forbidden', /second admin/);
      assert.equal((await t.admin$('POST', `/approvals/${own.json.id}/approve`, {}, tokens.a1)).status, 200);
      const theirs = await t.admin$('PUT', '/domains/pay/roles/vault/members/v.a1', {}, tokens.a1);
      assert.equal((await t.admin$('POST', `/approvals/${theirs.json.id}/approve`, {}, root)).status, 200);
    });

    it('a change that no longer applies (its role deleted meanwhile) is refused with 409 and becomes failed', async () => {
      await t.admin$('PUT', '/domains/pay/roles/vault/members/v.a1', {}, root);
      const add = await t.admin$('PUT', '/domains/pay/roles/vault/members/v.late', {}, tokens.a1);
      const drop = await t.admin$('DELETE', '/domains/pay/roles/vault', undefined, tokens.a1);
      assert.equal((await t.admin$('POST', `/approvals/${drop.json.id}/approve`, {}, tokens.a2)).status, 200);
      assert.equal((await t.admin$('GET', '/domains/pay/roles/vault', undefined, root)).status, 404);
      const late = await t.admin$('POST', `/approvals/${add.json.id}/approve`, {}, tokens.a2);
      assertAdminError(late, 409, 'conflict', /no longer applies and is now failed: role pay:role\.vault not found/);
      assert.ok(!(await pending('pay')).some((p) => p.id === add.json.id));
      assertAdminError(await t.admin$('POST', `/approvals/${add.json.id}/approve`, {}, tokens.a2), 409, 'conflict', /already failed/);
      const [failed] = await auditOf('approval.fail');
      assert.match(failed!.after.outcome, /not found/);
      // Recreated under the same name, it still needs a second admin: the list names roles, not role rows.
      assert.equal((await t.admin$('PUT', '/domains/pay/roles/vault', { members: [{ principal: 'v.sneaky' }] }, tokens.a1)).status, 202);
    });

    it('removing names from approvalRequiredRoles waits for a second admin; adding applies at once', async () => {
      const added = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['ghost', 'vault', 'writers', 'readers'] }, tokens.a1);
      assert.equal(added.status, 200, added.text);
      const removal = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['vault'], reason: 'less ceremony' }, tokens.a1);
      assert.equal(removal.status, 202, removal.text);
      assert.equal(removal.json.kind, 'domain.update');
      assert.deepEqual(removal.json.change.removes, ['ghost', 'readers', 'writers']);
      assert.deepEqual((await t.admin$('GET', '/domains/pay', undefined, root)).json.approvalRequiredRoles, ['ghost', 'readers', 'vault', 'writers']);
      assertAdminError(await t.admin$('POST', `/approvals/${removal.json.id}/approve`, {}, tokens.a1), 403, 'forbidden');
      const approved = await t.admin$('POST', `/approvals/${removal.json.id}/approve`, {}, tokens.a2);
      assert.equal(approved.status, 200, approved.text);
      assert.deepEqual(approved.json.result.approvalRequiredRoles, ['vault']);
      const [update] = await auditOf('domain.update');
      assert.deepEqual(update!.after.approval, { id: removal.json.id, requestedBy: 'pay.a1', approvedBy: 'pay.a2' });
      assert.equal(update!.after.reason, 'less ceremony');
    });

    it('the reviews bulk action holds the items of such a role, per domain, and applies the rest', async () => {
      await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['vault', 'writers'] }, tokens.a1);
      const reviewBy = at(100 * DAY);
      const res = await t.admin$(
        'POST',
        '/reviews',
        {
          items: [
            { domain: 'pay', role: 'writers', principal: 'w.later' },
            { domain: 'ops', role: 'readers', principal: 'y.one' },
          ],
          action: 'extend',
          reviewBy,
        },
        root,
      );
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.changed, 1);
      assert.equal(res.json.pending.length, 1);
      assert.equal(res.json.pending[0].domain, 'pay');
      assert.equal(res.json.pending[0].kind, 'reviews');
      const approved = await t.admin$('POST', `/approvals/${res.json.pending[0].id}/approve`, {}, tokens.a1);
      assert.equal(approved.status, 200, approved.text);
      const writers = (await t.admin$('GET', '/domains/pay/roles/writers/members', undefined, root)).json.members;
      assert.equal(writers.find((m: { principal: string }) => m.principal === 'w.later').reviewBy, reviewBy);
    });

    // Last: it moves the clock 8 days on.
    it('a change not approved within 7 days expires: no longer listed, 409 on approval, still rejectable', async () => {
      const res = await t.admin$('PUT', '/domains/pay/roles/writers/members/w.slow', {}, tokens.a1);
      assert.equal(res.status, 202, res.text);
      offset += 8 * DAY;
      root = await t.adminToken();
      const fresh = await t.token('pay.a2', secrets['pay.a2']!, { grant_type: 'client_credentials', scope: 'pay:role.admin' });
      assert.ok(!(await pending('pay', root)).some((p) => p.id === res.json.id));
      assertAdminError(await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, fresh.json.access_token), 409, 'conflict', /expired at/);
      assert.equal((await t.admin$('POST', `/approvals/${res.json.id}/reject`, {}, root)).status, 200);
    });
  });
});

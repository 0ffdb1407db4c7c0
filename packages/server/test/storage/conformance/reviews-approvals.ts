// Membership review dates, the list of memberships due, the bulk review action and the changes
// waiting for a second admin (migration 13), alike on both backends.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { AlreadyDecidedError, ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

const DAY = 24 * 60 * 60 * 1000;

export function reviewsAndApprovals(harness: StoreHarness): void {
  describe('membership reviews and pending changes', () => {
    storeTest(harness, 'stores review dates, lists what is due by the earlier date, page by page', async (store) => {
      const now = Date.now();
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'a.late', expiresAt: null, reviewBy: now + 40 * DAY }], admin);
      await store.putRoleMembers(
        'alpha',
        'readers',
        [
          { principal: 'a.review', expiresAt: null, reviewBy: now + 2 * DAY },
          { principal: 'a.expiry', expiresAt: now + DAY },
          { principal: 'a.both', expiresAt: now + 3 * DAY, reviewBy: now + 3 * DAY - 1 },
          { principal: 'a.none', expiresAt: null },
        ],
        admin,
      );
      await store.putRole('beta', 'writers', undefined, admin);
      await store.putRoleMember('beta', 'writers', { principal: 'b.same', expiresAt: now + 2 * DAY }, admin);
      assert.deepEqual(
        (await store.getRole('alpha', 'readers'))?.members.find((m) => m.principal === 'a.late'),
        {
          principal: 'a.late',
          expiresAt: null,
          reviewBy: now + 40 * DAY,
        },
      );
      const due = await store.listDueMemberships({ until: now + 14 * DAY, limit: 100 });
      assert.deepEqual(
        due.map((m) => [m.principal, m.dueAt]),
        [
          ['a.expiry', now + DAY],
          ['a.review', now + 2 * DAY],
          ['b.same', now + 2 * DAY],
          ['a.both', now + 3 * DAY - 1],
        ],
      );
      assert.deepEqual(
        (await store.listDueMemberships({ domains: ['beta'], until: now + 14 * DAY, limit: 100 })).map((m) => m.principal),
        ['b.same'],
      );
      assert.deepEqual(await store.listDueMemberships({ domains: [], until: now + 14 * DAY, limit: 100 }), []);
      const paged: string[] = [];
      let after;
      for (;;) {
        const page = await store.listDueMemberships({ until: now + 14 * DAY, limit: 1, ...(after ? { after } : {}) });
        if (page.length === 0) break;
        paged.push(page[0]!.principal);
        after = page[0]!;
      }
      assert.deepEqual(paged, ['a.expiry', 'a.review', 'b.same', 'a.both']);
    });

    storeTest(harness, 'applies a bulk review all or none, with one audit event per domain and a change for each member', async (store) => {
      const now = Date.now();
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'a.one', expiresAt: now + DAY }], admin);
      await store.putRole('beta', 'readers', [{ principal: 'b.one', expiresAt: null }], admin);
      const items = [
        { domain: 'alpha', role: 'readers', principal: 'a.one' },
        { domain: 'beta', role: 'readers', principal: 'b.one' },
      ];
      await assert.rejects(store.applyReviews([...items, { domain: 'beta', role: 'readers', principal: 'b.none' }], { kind: 'remove' }, admin), NotFoundError);
      assert.equal((await store.getRole('alpha', 'readers'))?.members.length, 1, 'nothing removed');
      const seq = await store.changeCounter();
      const result = await store.applyReviews(items, { kind: 'extend', reviewBy: now + 90 * DAY, expiresAt: now + 365 * DAY }, admin, { reason: 'ok' });
      assert.deepEqual(result, { changed: 2, joinTokensVoided: 0 });
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, [{ principal: 'a.one', expiresAt: now + 365 * DAY, reviewBy: now + 90 * DAY }]);
      const feed = await store.readChanges(seq, 10);
      assert.deepEqual(feed.map((row) => `${row.scope} ${row.key}`).sort(), ['member a.one', 'member b.one']);
      const events = await store.queryAudit({ type: 'review.extend', limit: 10 });
      assert.deepEqual(events.map((e) => e.target).sort(), ['alpha', 'beta']);
      assert.equal((events[0]!.after as { reason: string }).reason, 'ok');
      await store.applyReviews(items, { kind: 'remove' }, admin);
      assert.deepEqual((await store.getRole('beta', 'readers'))?.members, []);
    });

    storeTest(harness, 'keeps pending changes, lists the pending ones of a domain, and moves each once', async (store) => {
      const now = Date.now();
      await store.createDomain({ name: 'alpha' }, admin);
      const base = { domain: 'alpha', role: 'readers', kind: 'member.put', requestedBy: 'alpha.a1', requestedAt: now, expiresAt: now + 7 * DAY };
      const first = await store.createPendingChange(
        { ...base, id: 'chg_0000000000000001', change: { principal: 'x.y', body: {} } },
        { actor: 'alpha.a1' },
        'why',
      );
      await store.createPendingChange({ ...base, id: 'chg_0000000000000002', change: {}, expiresAt: now - 1 }, { actor: 'alpha.a1' });
      assert.deepEqual(await store.getPendingChange(first.id), first);
      assert.deepEqual(
        (await store.listPendingChanges('alpha', { limit: 10, now })).map((c) => c.id),
        ['chg_0000000000000001'],
      );
      await store.decidePendingChange(first.id, 'pending', 'approved', { actor: 'alpha.a2' }, { auditVerb: 'approve' });
      await assert.rejects(store.decidePendingChange(first.id, 'pending', 'rejected', { actor: 'alpha.a2' }, { auditVerb: 'reject' }), ConflictError);
      const decided = await store.getPendingChange(first.id);
      assert.deepEqual([decided?.status, decided?.decidedBy], ['approved', 'alpha.a2']);
      assert.deepEqual(await store.listPendingChanges('alpha', { limit: 10, now }), []);
      const requested = (await store.queryAudit({ type: 'approval.request', limit: 10 })).at(-1);
      assert.deepEqual([requested?.target, (requested?.after as { reason: string }).reason], ['alpha:role.readers', 'why']);
      // They go with their domain.
      await store.deleteRole('alpha', 'readers', admin).catch(() => {});
      await store.deleteDomain('alpha', admin);
      assert.equal(await store.getPendingChange(first.id), null);
    });
    storeTest(harness, 'a write applying an approval decides the change in its own transaction, with its guard', async (store) => {
      const now = Date.now();
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [], admin);
      const base = { domain: 'alpha', role: 'readers', requestedBy: 'alpha.a1', requestedAt: now, expiresAt: now + 7 * DAY };
      const change = (id: string, kind: string) => store.createPendingChange({ ...base, id, kind, change: {} }, { actor: 'alpha.a1' });
      const approval = (id: string) => ({ approval: { id, requestedBy: 'alpha.a1', approvedBy: 'alpha.a2' }, approvalOutcome: 'fine' });
      const by = { actor: 'alpha.a2' };
      const statusOf = async (id: string) => (await store.getPendingChange(id))?.status;

      // A guard refusing rolls back the write and the decision alike.
      await change('chg_00000000000000a1', 'role.put');
      const refused = new Error('stale');
      const stale = store.putRole('alpha', 'readers', [{ principal: 'x.one', expiresAt: null }], by, {}, approval('chg_00000000000000a1'), (before) => {
        assert.deepEqual(before?.members, []);
        throw refused;
      });
      await assert.rejects(stale, (error) => error === refused);
      assert.equal(await statusOf('chg_00000000000000a1'), 'pending');
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, []);

      // Applied once: a second write carrying the same approval changes nothing.
      await store.putRoleMember('alpha', 'readers', { principal: 'x.one', expiresAt: null }, by, approval('chg_00000000000000a1'));
      const decided = await store.getPendingChange('chg_00000000000000a1');
      assert.deepEqual([decided?.status, decided?.decidedBy, decided?.outcome], ['approved', 'alpha.a2', 'fine']);
      const again = store.putRoleMember('alpha', 'readers', { principal: 'x.two', expiresAt: null }, by, approval('chg_00000000000000a1'));
      await assert.rejects(again, (error) => error instanceof AlreadyDecidedError && /is already approved by alpha\.a2/.test(error.message));
      assert.deepEqual(
        (await store.getRole('alpha', 'readers'))?.members.map((m) => m.principal),
        ['x.one'],
      );

      // A rejected change, or an expired one, is not applied.
      await change('chg_00000000000000a2', 'domain.update');
      await store.decidePendingChange('chg_00000000000000a2', 'pending', 'rejected', { actor: 'alpha.a1' }, { auditVerb: 'reject' });
      const rejected = store.updateDomain('alpha', { description: 'no' }, by, approval('chg_00000000000000a2'));
      await assert.rejects(rejected, (error) => error instanceof AlreadyDecidedError && /is already rejected/.test(error.message));
      await store.createPendingChange({ ...base, id: 'chg_00000000000000a3', kind: 'member.delete', change: {}, expiresAt: now - 1 }, { actor: 'alpha.a1' });
      const expired = store.deleteRoleMember('alpha', 'readers', 'x.one', by, approval('chg_00000000000000a3'));
      await assert.rejects(expired, (error) => error instanceof AlreadyDecidedError && /expired at/.test(error.message));
      assert.equal((await store.getDomain('alpha'))?.description, null);
      assert.equal((await store.getRole('alpha', 'readers'))?.members.length, 1);

      // updateDomain's guard sees the domain as it writes it.
      const guarded = store.updateDomain('alpha', { approvalRequiredRoles: [] }, admin, undefined, (before) => {
        throw new ConflictError(`still ${before.description}`);
      });
      await assert.rejects(guarded, /still null/);
      const approvals = await store.queryAudit({ type: 'approval.approve', limit: 10 });
      assert.deepEqual(
        approvals.map((e) => (e.after as { id: string }).id),
        ['chg_00000000000000a1'],
      );
    });
  });
}

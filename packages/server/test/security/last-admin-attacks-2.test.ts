// A second outsider's attacks on the rule that sys.auth:role.admin never loses its last way in
// (docs/http-api.md): black-box over HTTPS against a real server on SQLite, with a clock the test
// moves: attacks that held, and legitimate work that must still go through. (The rule judges
// standing, not credentials: narrowing the last admin's allowedIps or removing its only key is
// not refused; SECURITY.md, thirteenth round.)

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ADMIN_SCOPE, assertLast, stopWorlds, world } from '../helpers/system-admins.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

afterEach(stopWorlds);

describe('last system admin, second review: attacks over HTTP (SQLite)', () => {
  describe('changes of status, expiry and membership: held', () => {
    it('a review extending the only admin with a future expiry (not a past one) is refused; a later one than it has passes', async () => {
      const w = await world();
      const item = { domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' };
      assertLast(await w.t.admin$('POST', '/reviews', { action: 'extend', reviewBy: w.iso(DAY), expiresAt: w.iso(30 * DAY), items: [item] }, w.root));
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
      // With a second admin lasting 60 days, the root may not be given 90 either: the role would end at 90 days rather than never.
      await w.service('ops', 'robot');
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', { expiresAt: w.iso(60 * DAY) }, w.root)).status, 201);
      assertLast(await w.t.admin$('POST', '/reviews', { action: 'extend', reviewBy: w.iso(DAY), expiresAt: w.iso(90 * DAY), items: [item] }, w.root));
      // Giving the robot no end, then the root an end, passes.
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 200);
      const ok = await w.t.admin$('POST', '/reviews', { action: 'extend', reviewBy: w.iso(DAY), expiresAt: w.iso(90 * DAY), items: [item] }, w.root);
      assert.equal(ok.status, 200, ok.text);
    });

    it('a person member (no service) does not count: the last service admin cannot go while only the person is left', async () => {
      const w = await world();
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/people.alice', {}, w.root)).status, 201);
      assertLast(await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, w.root));
      assertLast(await w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: 'people.alice' }] }, w.root));
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });

    it('an approval is judged when applied: the removal asked while another admin stood forever fails once that one has an end', async () => {
      const w = await world();
      const robotSecret = (await w.service('ops', 'robot')).json.clientSecret as string;
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
      const robot = await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
      assert.equal((await w.t.admin$('PATCH', '/domains/sys.auth', { approvalRequiredRoles: ['admin'] }, w.root)).status, 200);
      // Asked while the robot stands without end: removing the root would not matter then.
      const asked = await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, robot);
      assert.equal(asked.status, 202, asked.text);
      // Then the robot's service is given an end (a service change needs no approval; the root still stands forever).
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { expiresAt: w.iso(2 * DAY) }, w.root)).status, 200);
      w.clock.now += DAY;
      assertLast(await w.t.admin$('POST', `/approvals/${asked.json.id}/approve`, {}, await w.t.adminToken()));
      assert.equal((await w.t.server.store.getPendingChange(asked.json.id as string))?.status, 'failed');
      assert.deepEqual((await w.active()).sort(), ['ops.robot', 'sys.auth.admin']);
    });
  });

  describe('legitimate work', () => {
    it('a fresh SQLite database bootstraps one admin, usable at once; unguarded changes that only add standing pass while it is the only one', async () => {
      const w = await world();
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
      const robotSecret = (await w.service('ops', 'robot', { expiresAt: w.iso(DAY) })).json.clientSecret as string;
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', { expiresAt: w.iso(DAY) }, w.root)).status, 201);
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { expiresAt: null }, w.root)).status, 200);
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { status: 'ACTIVE' }, w.root)).status, 200);
      await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
      assert.deepEqual((await w.active()).sort(), ['ops.robot', 'sys.auth.admin']);
    });
  });
});

// An outsider's attacks on the rule that sys.auth:role.admin never loses its last active member
// (an unexpired membership of an ACTIVE, unexpired service): black-box over HTTPS against a real
// server on SQLite, with a clock the test moves. Those marked "found by this review" were ways
// around the rule until it was fixed; the others are attacks that held, or legitimate changes
// (other domains' admins, recovery) that must still go through.

import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { recoverAdmin } from '../../src/admin/recover.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ADMIN_SCOPE, assertLast, LAST, stopWorlds, world, type World } from '../helpers/system-admins.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

afterEach(stopWorlds);

/**
 * Writes `sql` straight to the server's database, past the store and its checks: the state an
 * older version could leave (one whose rule judged each change at a single instant).
 */
async function legacyWrite(w: World, sql: string, params: (string | number)[] = []): Promise<void> {
  await (w.t.server.store as unknown as { ctx: { db: { run(sql: string, params: (string | number)[]): Promise<unknown> } } }).ctx.db.run(sql, params);
}

/**
 * ops.robot the only system admin (the bootstrap admin removed by it), with `robot` its service's
 * fields; ops.boss the admin of ops (not a system admin). Returns their tokens.
 */
async function robotWorld(robot: Record<string, unknown> = {}): Promise<World & { robotToken: string; boss: string }> {
  const w = await world();
  const robotSecret = await w.secret('ops', 'robot', robot);
  const bossSecret = await w.secret('ops', 'boss');
  assert.equal((await w.t.admin$('PUT', '/domains/ops/roles/admin', { members: [{ principal: 'ops.boss' }] }, w.root)).status, 201);
  assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
  const robotToken = await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
  const removed = await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, robotToken);
  assert.equal(removed.status, 204, removed.text);
  assert.deepEqual(await w.active(), ['ops.robot']);
  return { ...w, robotToken, boss: await w.token('ops.boss', bossSecret, 'ops:role.admin') };
}

describe('last system admin: attacks over HTTP (SQLite)', () => {
  after(stopWorlds);

  describe('found by this review, fixed', () => {
    // Found by this review and fixed: disabling was judged at the service's own expiry, where it no longer counted.
    it("ops's admin cannot disable the only system admin, ops.robot, whose service has an expiry of its own", async () => {
      const w = await world();
      const robotSecret = await w.secret('ops', 'robot', { expiresAt: w.iso(90 * DAY) });
      const bossSecret = await w.secret('ops', 'boss');
      assert.equal((await w.t.admin$('PUT', '/domains/ops/roles/admin', { members: [{ principal: 'ops.boss' }] }, w.root)).status, 201);
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
      const robot = await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
      // Leaving the robot alone would end the role in 90 days, sooner than never: refused now.
      assertLast(await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, robot));
      // As an older version could leave it: the robot, expiring, the only admin.
      await legacyWrite(w, "DELETE FROM role_members WHERE domain = 'sys.auth' AND role = 'admin' AND principal = 'sys.auth.admin'");
      assert.deepEqual(await w.active(), ['ops.robot']);
      const boss = await w.token('ops.boss', bossSecret, 'ops:role.admin');
      assertLast(await w.t.admin$('PATCH', '/domains/ops/services/robot', { status: 'DISABLED' }, boss));
      assertLast(await w.t.admin$('PATCH', '/domains/ops/services/robot', { expiresAt: w.iso(30 * DAY) }, boss));
      assert.deepEqual(await w.active(), ['ops.robot']);
      // Moving its end later is no threat.
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { expiresAt: w.iso(120 * DAY) }, robot)).status, 200);
    });

    // Found by this review and fixed: the same, through the service-accounts API.
    it('an account with an expiry, the only system admin, cannot be disabled through /admin/service-accounts/:id/disable', async () => {
      const w = await world();
      const made = await w.accounts('POST', '', { name: 'ops', scopes: ['sys.auth:admin'], expiresAt: w.iso(30 * DAY) }, w.root);
      assert.equal(made.status, 201, made.text);
      const { serviceAccountId, clientId, clientSecret } = made.json;
      const ops = await w.token(clientId, clientSecret, ADMIN_SCOPE);
      assertLast(await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, ops));
      await legacyWrite(w, "DELETE FROM role_members WHERE domain = 'sys.auth' AND role = 'admin' AND principal = 'sys.auth.admin'");
      assert.deepEqual(await w.active(), ['alpha.ops']);
      // The account disables itself: its own token is a system admin's.
      assertLast(await w.accounts('POST', `/${serviceAccountId}/disable`, undefined, ops));
      assert.deepEqual(await w.active(), ['alpha.ops']);
    });

    // Found by this review and fixed: each change was judged at one instant, the latest expiry it wrote.
    it('two expiries, each judged alone at its own time, cannot schedule a lockout no single change was allowed to make', async () => {
      const w = await world();
      // Alone, the bootstrap admin may not be given an expiry (the role would end then):
      assertLast(await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', { expiresAt: w.iso(DAY) }, w.root));
      const robotSecret = await w.secret('ops', 'robot');
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
      // Step 1: the robot's membership ends in two days (allowed: the bootstrap admin, without end, stays).
      const first = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', { expiresAt: w.iso(2 * DAY) }, w.root);
      assert.equal(first.status, 200, first.text);
      // Step 2: the bootstrap admin's ends in one day: the role would end in two days instead of never.
      const second = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', { expiresAt: w.iso(DAY) }, w.root);
      // Before step 2 someone was an admin forever; after it, nobody is from +2 d on.
      w.clock.now += 2 * DAY + 1000;
      const locked = (await w.active()).length === 0;
      const robot = await w.t.token('ops.robot', robotSecret, { grant_type: 'client_credentials', scope: ADMIN_SCOPE });
      assert.ok(!locked, `two days later nobody holds the role (step 2 answered ${second.status}; the robot's token request ${robot.status})`);
      assertLast(second);
    });
  });

  describe('direct removals of the only admin over HTTP: 409, nothing written', () => {
    const removals: [string, (w: World) => Promise<TestResponse>][] = [
      ['DELETE the member', (w) => w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, w.root)],
      ['DELETE the role', (w) => w.t.admin$('DELETE', '/domains/sys.auth/roles/admin', undefined, w.root)],
      ['PUT the role with no members', (w) => w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members: [] }, w.root)],
      [
        'PUT the role with a member whose service does not exist',
        (w) => w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: 'sys.auth.ghost' }] }, w.root),
      ],
      [
        'PUT the role with 10,000 members none of which is a service',
        (w) => {
          const members = Array.from({ length: 10_000 }, (_, i) => ({ principal: `ghost.g${i}` }));
          return w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members }, w.root);
        },
      ],
      [
        'PUT the member with an expiry at the boundary (now)',
        (w) => w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', { expiresAt: w.iso(0) }, w.root),
      ],
      [
        'PUT the member with an expiry a millisecond ahead (the role would end then)',
        (w) => w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', { expiresAt: w.iso(1) }, w.root),
      ],
      [
        'a review removing it',
        (w) => w.t.admin$('POST', '/reviews', { action: 'remove', items: [{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' }] }, w.root),
      ],
      [
        'a review extending its review date but setting an expiry in the past',
        (w) =>
          w.t.admin$(
            'POST',
            '/reviews',
            { action: 'extend', reviewBy: w.iso(DAY), expiresAt: w.iso(-DAY), items: [{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' }] },
            w.root,
          ),
      ],
      ['PATCH its service DISABLED', (w) => w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { status: 'DISABLED' }, w.root)],
      ['PATCH its service an expiry in the past', (w) => w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { expiresAt: w.iso(-DAY) }, w.root)],
      ['PATCH its service an expiry at now', (w) => w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { expiresAt: w.iso(0) }, w.root)],
      [
        'PATCH its service an expiry in a year (the role would end then)',
        (w) => w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { expiresAt: w.iso(365 * DAY) }, w.root),
      ],
      [
        'PATCH its service DISABLED with an expiry far ahead',
        (w) => w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { status: 'DISABLED', expiresAt: w.iso(3650 * DAY) }, w.root),
      ],
      ['DELETE its service', (w) => w.t.admin$('DELETE', '/domains/sys.auth/services/admin', undefined, w.root)],
    ];

    for (const [what, run] of removals) {
      it(`refuses: ${what}`, async () => {
        const w = await world();
        const role = await w.t.server.store.getRole('sys.auth', 'admin');
        const service = await w.t.server.store.getService('sys.auth.admin');
        assertLast(await run(w));
        assert.deepEqual(await w.t.server.store.getRole('sys.auth', 'admin'), role);
        assert.deepEqual(await w.t.server.store.getService('sys.auth.admin'), service);
        assert.deepEqual(await w.active(), ['sys.auth.admin']);
      });
    }

    it('refuses disabling or deleting the only admin through /admin/service-accounts (no expiry), and by the domain admin of ops', async () => {
      const w = await world();
      const made = await w.accounts('POST', '', { name: 'ops', scopes: ['sys.auth:admin'] }, w.root);
      assert.equal(made.status, 201, made.text);
      const { serviceAccountId, clientId, clientSecret } = made.json;
      const ops = await w.token(clientId, clientSecret, ADMIN_SCOPE);
      assert.equal((await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, ops)).status, 204);
      assertLast(await w.accounts('POST', `/${serviceAccountId}/disable`, undefined, ops));
      assertLast(await w.accounts('DELETE', `/${serviceAccountId}`, undefined, ops));
      assertLast(await w.t.admin$('PATCH', '/domains/alpha/services/ops', { status: 'DISABLED' }, ops));
      assert.deepEqual(await w.active(), ['alpha.ops']);
    });

    it("refuses ops's admin disabling, expiring or deleting the only system admin ops.robot (no expiry)", async () => {
      const w = await robotWorld();
      assertLast(await w.t.admin$('PATCH', '/domains/ops/services/robot', { status: 'DISABLED' }, w.boss));
      assertLast(await w.t.admin$('PATCH', '/domains/ops/services/robot', { expiresAt: w.iso(HOUR) }, w.boss));
      assertLast(await w.t.admin$('DELETE', '/domains/ops/services/robot', undefined, w.boss));
      assert.deepEqual(await w.active(), ['ops.robot']);
    });

    it('answers a principal named twice in one request (the last entry expired) with 400, changing nothing', async () => {
      const w = await world();
      const twice = [
        { principal: 'sys.auth.admin', expiresAt: null },
        { principal: 'sys.auth.admin', expiresAt: w.iso(-1000) },
      ];
      const put = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members: twice }, w.root);
      assert.equal(put.status, 400, put.text);
      const post = await w.t.admin$('POST', '/domains/sys.auth/roles/admin/members', { members: [...twice, { principal: 'ghost.one' }] }, w.root);
      assert.equal(post.status, 400, post.text);
      const item = { domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' };
      const review = await w.t.admin$('POST', '/reviews', { action: 'remove', items: [item, item] }, w.root);
      assert.equal(review.status, 400, review.text);
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });

    it('answers case and whitespace variants of the names with 400, changing nothing', async () => {
      const w = await world();
      for (const principal of ['SYS.AUTH.ADMIN', 'Sys.Auth.Admin', 'sys.auth.admin%20', '%20sys.auth.admin']) {
        const res = await w.t.admin$('DELETE', `/domains/sys.auth/roles/admin/members/${principal}`, undefined, w.root);
        assert.equal(res.status, 400, `${principal}: ${res.text}`);
      }
      const put = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: 'SYS.AUTH.ADMIN' }] }, w.root);
      assert.equal(put.status, 400, put.text);
      assert.equal((await w.t.admin$('DELETE', '/domains/SYS.AUTH/roles/admin', undefined, w.root)).status, 400);
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });

    it('judges the bulk review as a whole: removing every admin at once is refused, one of two goes', async () => {
      const w = await world();
      await w.secret('ops', 'robot');
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
      const items = [
        { domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' },
        { domain: 'sys.auth', role: 'admin', principal: 'ops.robot' },
      ];
      assertLast(await w.t.admin$('POST', '/reviews', { action: 'remove', items }, w.root));
      const extend = { action: 'extend', reviewBy: w.iso(DAY), expiresAt: w.iso(DAY), items };
      assertLast(await w.t.admin$('POST', '/reviews', extend, w.root));
      assert.deepEqual((await w.active()).sort(), ['ops.robot', 'sys.auth.admin']);
      const one = await w.t.admin$('POST', '/reviews', { action: 'remove', items: [items[1]] }, w.root);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });
  });

  describe('concurrency and approvals (SQLite)', () => {
    it("of 24 parallel removals of six admins, each made with another admin's token, an admin stays; no 500", async () => {
      const w = await world();
      const names = ['a', 'b', 'c', 'd', 'e'];
      const tokens = new Map<string, string>([['sys.auth.admin', w.root]]);
      for (const name of names) {
        const secret = await w.secret('ops', name);
        assert.equal((await w.t.admin$('PUT', `/domains/sys.auth/roles/admin/members/ops.${name}`, {}, w.root)).status, 201);
        tokens.set(`ops.${name}`, await w.token(`ops.${name}`, secret, ADMIN_SCOPE));
      }
      const principals = [...tokens.keys()];
      const requests: Promise<TestResponse>[] = [];
      principals.forEach((principal, i) => {
        // Each admin takes the next one away, four ways at once.
        const token = tokens.get(principals[(i + principals.length - 1) % principals.length]!)!;
        const [domain, service] = principal === 'sys.auth.admin' ? ['sys.auth', 'admin'] : ['ops', principal.slice(4)];
        requests.push(
          w.t.admin$('DELETE', `/domains/sys.auth/roles/admin/members/${principal}`, undefined, token),
          w.t.admin$('PATCH', `/domains/${domain}/services/${service}`, { status: 'DISABLED' }, token),
          w.t.admin$('DELETE', `/domains/${domain}/services/${service}`, undefined, token),
          w.t.admin$('POST', '/reviews', { action: 'remove', items: [{ domain: 'sys.auth', role: 'admin', principal }] }, token),
        );
      });
      const results = await Promise.all(requests);
      // A caller whose own standing went first gets 401; a target already gone 404.
      for (const res of results) assert.ok([200, 204, 401, 404, 409].includes(res.status), `${res.status} ${res.text}`);
      for (const res of results.filter((r) => r.status === 409)) assert.match(res.text, LAST);
      const left = await w.active();
      assert.ok(left.length >= 1, 'an admin stays');
    });

    it('two pending removals, each approved by the other admin, cannot both apply: the second fails with 409', async () => {
      const w = await world();
      const robotSecret = await w.secret('ops', 'robot');
      assert.equal((await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', {}, w.root)).status, 201);
      const robot = await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
      const gate = await w.t.admin$('PATCH', '/domains/sys.auth', { approvalRequiredRoles: ['admin'] }, w.root);
      assert.equal(gate.status, 200, gate.text);
      const byRoot = await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/ops.robot', undefined, w.root);
      const byRobot = await w.t.admin$('DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined, robot);
      assert.equal(byRoot.status, 202, byRoot.text);
      assert.equal(byRobot.status, 202, byRobot.text);
      const approvedFirst = await w.t.admin$('POST', `/approvals/${byRobot.json.id}/approve`, {}, w.root);
      assert.equal(approvedFirst.status, 200, approvedFirst.text);
      // The robot approves the removal of itself, the last admin now: refused, the change failed, not a 500.
      const second = await w.t.admin$('POST', `/approvals/${byRoot.json.id}/approve`, {}, robot);
      assertLast(second);
      assert.deepEqual(await w.active(), ['ops.robot']);
    });
  });

  describe('legitimate changes still go through', () => {
    it('once every admin has lapsed: other domains manage their services (a lapsed admin among them), and recover-admin restores a way in', async () => {
      const w = await world();
      const robotSecret = await w.secret('ops', 'robot');
      const bossSecret = await w.secret('ops', 'boss');
      await w.secret('ops', 'worker');
      assert.equal((await w.t.admin$('PUT', '/domains/ops/roles/admin', { members: [{ principal: 'ops.boss' }] }, w.root)).status, 201);
      // The robot is an admin for an hour; disabling the bootstrap admin would end the role then: refused.
      const robotMember = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', { expiresAt: w.iso(HOUR) }, w.root);
      assert.equal(robotMember.status, 201, robotMember.text);
      const robot = await w.token('ops.robot', robotSecret, ADMIN_SCOPE);
      assertLast(await w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { status: 'DISABLED' }, robot));
      // As an older version could leave it.
      await legacyWrite(w, "UPDATE services SET status = 'DISABLED' WHERE principal = 'sys.auth.admin'");
      w.clock.now += HOUR + 1000;
      assert.deepEqual(await w.active(), []);
      const boss = await w.token('ops.boss', bossSecret, 'ops:role.admin');
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/worker', { description: 'still managed' }, boss)).status, 200);
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/worker', { status: 'DISABLED' }, boss)).status, 200);
      assert.equal((await w.t.admin$('DELETE', '/domains/ops/services/worker', undefined, boss)).status, 204);
      // The lapsed admin's own domain may still take its standing away.
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { status: 'DISABLED' }, boss)).status, 200);
      assert.equal((await w.t.admin$('DELETE', '/domains/ops/services/robot', undefined, boss)).status, 204);
      // recover-admin, beside the running server.
      const config = loadConfig({ flags: { dataDir: w.t.dataDir, issuer: 'https://tessera.test' }, env: {}, cwd: w.t.dataDir });
      const result = await recoverAdmin(config, { force: true, now: () => w.clock.now });
      assert.equal(result.principal, 'sys.auth.admin');
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });

    it('adding admins, review dates and other services stay open while the only admin stands', async () => {
      const w = await world();
      await w.secret('ops', 'robot');
      const put = await w.t.admin$('PUT', '/domains/sys.auth/roles/admin/members/ops.robot', { expiresAt: w.iso(DAY) }, w.root);
      assert.equal(put.status, 201, put.text);
      const review = await w.t.admin$(
        'POST',
        '/reviews',
        { action: 'extend', reviewBy: w.iso(DAY), items: [{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.admin' }] },
        w.root,
      );
      assert.equal(review.status, 200, review.text);
      assert.equal((await w.t.admin$('PATCH', '/domains/sys.auth/services/admin', { description: 'the way in' }, w.root)).status, 200);
      assert.equal((await w.t.admin$('PATCH', '/domains/ops/services/robot', { status: 'DISABLED' }, w.root)).status, 200);
      assert.equal((await w.t.admin$('DELETE', '/domains/ops/services/robot', undefined, w.root)).status, 204);
      assert.deepEqual(await w.active(), ['sys.auth.admin']);
    });
  });
});

// sys.auth:role.admin never loses its last active member: every write that would leave the role
// without one, now or sooner than it would be left anyway, is refused (ConflictError, nothing
// written), judged in its own transaction, so two removals racing on two instances cannot both pass.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError } from '../../../src/storage/errors.ts';
import type { SqlStore } from '../../../src/storage/sql-store.ts';
import { activeAdmins, LAST } from '../../helpers/system-admins.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, storeTest } from './harness.ts';

const DAY = 86_400_000;

/** sys.auth with the services `admins` (all ACTIVE) as the admin role's members, and ops.worker, no admin. */
async function seed(store: SqlStore, admins: readonly string[]): Promise<void> {
  await store.createDomain({ name: 'sys.auth' }, admin);
  await store.createDomain({ name: 'ops' }, admin);
  for (const name of admins) await store.createService({ domain: 'sys.auth', name }, {}, admin);
  await store.createService({ domain: 'ops', name: 'worker' }, {}, admin);
  await store.putRole(
    'sys.auth',
    'admin',
    admins.map((name) => ({ principal: `sys.auth.${name}`, expiresAt: null })),
    admin,
  );
}

type Change = [what: string, run: (store: SqlStore) => Promise<unknown>];

/** Each way a write can take the only admin, `sys.auth.a`, away. */
const removals: Change[] = [
  ['removing the member', (s) => s.deleteRoleMember('sys.auth', 'admin', 'sys.auth.a', admin)],
  ['deleting the role', (s) => s.deleteRole('sys.auth', 'admin', admin)],
  ['replacing the members with none', (s) => s.putRole('sys.auth', 'admin', [], admin)],
  ['replacing the members with an expired one', (s) => s.putRole('sys.auth', 'admin', [{ principal: 'sys.auth.a', expiresAt: Date.now() - 1 }], admin)],
  [
    'replacing the members with one of another, missing, service',
    (s) => s.putRole('sys.auth', 'admin', [{ principal: 'sys.auth.ghost', expiresAt: null }], admin),
  ],
  [
    'giving the member an expiry (the role would end then)',
    (s) => s.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.a', expiresAt: Date.now() + DAY }, admin),
  ],
  ['giving it an expiry in bulk', (s) => s.putRoleMembers('sys.auth', 'admin', [{ principal: 'sys.auth.a', expiresAt: Date.now() + DAY }], admin)],
  ['a review removing it', (s) => s.applyReviews([{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.a' }], { kind: 'remove' }, admin)],
  [
    'a review setting its expiry',
    (s) =>
      s.applyReviews(
        [{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.a' }],
        { kind: 'extend', reviewBy: Date.now() + DAY, expiresAt: Date.now() + DAY },
        admin,
      ),
  ],
  ['disabling its service', (s) => s.updateService('sys.auth.a', { status: 'DISABLED' }, admin)],
  ['giving its service an expiry (the role would end then)', (s) => s.updateService('sys.auth.a', { expiresAt: Date.now() + DAY }, admin)],
  ['giving its service an expiry already past', (s) => s.updateService('sys.auth.a', { expiresAt: Date.now() - DAY }, admin)],
  ['deleting its service', (s) => s.deleteService('sys.auth.a', admin)],
];

export function systemAdmins(harness: StoreHarness): void {
  describe('the last system admin', () => {
    for (const [what, run] of removals) {
      storeTest(harness, `refuses ${what}, writing nothing`, async (store) => {
        await seed(store, ['a']);
        const role = await store.getRole('sys.auth', 'admin');
        const service = await store.getService('sys.auth.a');
        await assert.rejects(run(store), (error: Error) => error instanceof ConflictError && LAST.test(error.message));
        assert.deepEqual(await store.getRole('sys.auth', 'admin'), role);
        assert.deepEqual(await store.getService('sys.auth.a'), service);
      });
    }

    // The role-wide changes take b away too; the others leave b the active admin.
    for (const [what, run] of removals.filter(([what]) => !/^(deleting the role|replacing)/.test(what))) {
      storeTest(harness, `allows ${what} while another admin stays active`, async (store) => {
        await seed(store, ['a', 'b']);
        const before = [await store.getRole('sys.auth', 'admin'), await store.getService('sys.auth.a')];
        await run(store);
        assert.notDeepEqual([await store.getRole('sys.auth', 'admin'), await store.getService('sys.auth.a')], before, 'the change was made');
        assert.ok((await activeAdmins(store)).includes('sys.auth.b'));
      });
    }

    storeTest(harness, 'allows what leaves the admins standing: an admin added with an expiry, review dates, other services', async (store) => {
      await seed(store, ['a']);
      const soon = Date.now() + DAY;
      await store.createService({ domain: 'sys.auth', name: 'b' }, {}, admin);
      await store.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.b', expiresAt: soon }, admin);
      await store.applyReviews([{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.b' }], { kind: 'extend', reviewBy: soon }, admin);
      await store.updateService('ops.worker', { status: 'DISABLED' }, admin);
      await store.deleteService('ops.worker', admin);
      await store.updateService('sys.auth.a', { description: 'the way in' }, admin);
      assert.deepEqual(await activeAdmins(store), ['sys.auth.a', 'sys.auth.b']);
    });

    storeTest(harness, 'refuses bringing forward the moment the role is left without an active member, however the steps are split', async (store) => {
      await seed(store, ['a']);
      for (const name of ['b', 'c']) await store.createService({ domain: 'sys.auth', name }, {}, admin);
      const b2 = Date.now() + 2 * DAY;
      await store.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.b', expiresAt: b2 }, admin);
      // a has no end: leaving b to end in two days would end the role then.
      await assert.rejects(
        store.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.a', expiresAt: Date.now() + DAY }, admin),
        (error: Error) =>
          error instanceof ConflictError &&
          new RegExp(
            `^this would leave sys\\.auth:role\\.admin without an active member from ${new Date(b2).toISOString()} ` +
              '\\(as its members stand it would be never, as one of them has no expiry\\), and nobody could administer Tessera then; ' +
              'add another system admin lasting as long first$',
          ).test(error.message),
      );
      await assert.rejects(store.updateService('sys.auth.a', { expiresAt: Date.now() + 3 * DAY }, admin), LAST);
      await assert.rejects(store.updateService('sys.auth.a', { status: 'DISABLED' }, admin), LAST);
      // With c added without end, a may go; then c is the one without end.
      await store.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.c', expiresAt: null }, admin);
      await store.updateService('sys.auth.a', { status: 'DISABLED' }, admin);
      await assert.rejects(store.deleteService('sys.auth.c', admin), LAST);
      assert.deepEqual(await activeAdmins(store), ['sys.auth.b', 'sys.auth.c']);
    });

    storeTest(
      harness,
      'where every admin already has an end (as an older version could leave it), refuses only what brings it sooner',
      async (store, driver) => {
        await seed(store, ['a', 'b']);
        const week = Date.now() + 7 * DAY;
        // Past the store's checks, as an older version judged them.
        await driver.run("UPDATE role_members SET expires_at = ? WHERE domain = 'sys.auth' AND role = 'admin' AND principal = 'sys.auth.a'", [week]);
        await driver.run("UPDATE services SET expires_at = ? WHERE principal = 'sys.auth.b'", [week + DAY]);
        await store.deleteRoleMember('sys.auth', 'admin', 'sys.auth.a', admin);
        await assert.rejects(store.updateService('sys.auth.b', { expiresAt: week }, admin), (error: Error) =>
          error.message.includes(`from ${new Date(week).toISOString()} (as its members stand it would be only from ${new Date(week + DAY).toISOString()})`),
        );
        await store.updateService('sys.auth.b', { expiresAt: week + 2 * DAY }, admin);
        assert.deepEqual(await activeAdmins(store), ['sys.auth.b']);
      },
    );

    storeTest(harness, 'once no admin is active any more, lets every change through, and one that restores an admin', async (store, driver) => {
      await seed(store, ['a']);
      await store.createService({ domain: 'sys.auth', name: 'b' }, {}, admin);
      await store.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.b', expiresAt: Date.now() + 300 }, admin);
      await driver.run("UPDATE services SET status = 'DISABLED' WHERE principal = 'sys.auth.a'");
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.deepEqual(await activeAdmins(store), []);
      await store.updateService('ops.worker', { status: 'DISABLED' }, admin);
      await store.deleteService('ops.worker', admin);
      await store.deleteRoleMember('sys.auth', 'admin', 'sys.auth.b', admin);
      await store.updateService('sys.auth.a', { status: 'ACTIVE' }, admin);
      assert.deepEqual(await activeAdmins(store), ['sys.auth.a']);
    });

    const races: [string, Change[1], Change[1]][] = [
      [
        'removing both members',
        (s) => s.deleteRoleMember('sys.auth', 'admin', 'sys.auth.a', admin),
        (s) => s.deleteRoleMember('sys.auth', 'admin', 'sys.auth.b', admin),
      ],
      [
        'removing one member and disabling the other',
        (s) => s.deleteRoleMember('sys.auth', 'admin', 'sys.auth.a', admin),
        (s) => s.updateService('sys.auth.b', { status: 'DISABLED' }, admin),
      ],
      [
        'disabling one service and deleting the other',
        (s) => s.updateService('sys.auth.a', { status: 'DISABLED' }, admin),
        (s) => s.deleteService('sys.auth.b', admin),
      ],
      [
        'a review removing one and an expiry on the other',
        (s) => s.applyReviews([{ domain: 'sys.auth', role: 'admin', principal: 'sys.auth.a' }], { kind: 'remove' }, admin),
        (s) => s.putRoleMember('sys.auth', 'admin', { principal: 'sys.auth.b', expiresAt: Date.now() - 1 }, admin),
      ],
    ];
    for (const [what, first, second] of races) {
      peerTest(harness, `of two instances racing at ${what}, exactly one succeeds and one admin stays`, async (store, peer) => {
        await seed(store, ['a', 'b']);
        for (let round = 0; round < 8; round++) {
          for (const name of ['a', 'b']) if (!(await store.getService(`sys.auth.${name}`))) await store.createService({ domain: 'sys.auth', name }, {}, admin);
          for (const name of ['a', 'b']) await store.updateService(`sys.auth.${name}`, { status: 'ACTIVE', expiresAt: null }, admin);
          await store.putRole(
            'sys.auth',
            'admin',
            [
              { principal: 'sys.auth.a', expiresAt: null },
              { principal: 'sys.auth.b', expiresAt: null },
            ],
            admin,
          );
          const results = await Promise.allSettled([first(store), second(peer)]);
          const refused = results.filter((result) => result.status === 'rejected');
          assert.equal(refused.length, 1, `round ${round}: ${results.map((r) => r.status).join(', ')}`);
          assert.ok(refused[0]!.reason instanceof ConflictError && LAST.test(refused[0]!.reason.message), String(refused[0]!.reason));
          assert.equal((await activeAdmins(store)).length, 1, `round ${round}`);
        }
      });
    }
  });
}

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { sqlStatements } from '../../../src/storage/drivers/statements.ts';
import { NotFoundError } from '../../../src/storage/errors.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

const T0 = 1_700_000_000_000;

async function statementsSent(backend: 'sqlite' | 'postgres'): Promise<number> {
  const { values } = await sqlStatements.get();
  return values.find((value) => value.labels['backend'] === backend)?.value ?? 0;
}

export function roles(harness: StoreHarness): void {
  describe('roles', () => {
    storeTest(harness, 'creates a role, then replaces or keeps its members', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const first = await store.putRole('alpha', 'readers', [{ principal: 'beta.web', expiresAt: null }], admin);
      assert.equal(first.created, true);
      assert.deepEqual(first.role.members, [{ principal: 'beta.web', expiresAt: null }]);

      const replaced = await store.putRole(
        'alpha',
        'readers',
        [
          { principal: 'gamma.db', expiresAt: 4_000_000_000_000 },
          { principal: 'beta.api', expiresAt: null },
        ],
        admin,
      );
      assert.equal(replaced.created, false);
      assert.equal(replaced.role.createdAt, first.role.createdAt);
      assert.deepEqual(replaced.role.members, [
        { principal: 'beta.api', expiresAt: null },
        { principal: 'gamma.db', expiresAt: 4_000_000_000_000 },
      ]);

      const kept = await store.putRole('alpha', 'readers', undefined, admin);
      assert.deepEqual(kept.role.members, replaced.role.members);
      assert.deepEqual(await store.getRole('alpha', 'readers'), kept.role);
      assert.deepEqual((await store.putRole('alpha', 'readers', [], admin)).role.members, []);
    });

    storeTest(harness, 'refuses a role in a missing domain', async (store) => {
      await assert.rejects(store.putRole('ghost', 'readers', [], admin), NotFoundError);
    });

    storeTest(harness, 'creates a role once when two callers put it at the same time', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const results = await Promise.all([store.putRole('alpha', 'readers', [], admin), store.putRole('alpha', 'readers', [], admin)]);
      assert.deepEqual(results.map((result) => result.created).sort(), [false, true]);
    });

    storeTest(harness, 'adds, updates and removes one member', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [], admin);
      assert.deepEqual(await store.putRoleMember('alpha', 'readers', { principal: 'beta.web', expiresAt: null }, admin), {
        created: true,
        joinTokensVoided: 0,
      });
      assert.deepEqual(await store.putRoleMember('alpha', 'readers', { principal: 'beta.web', expiresAt: 4_000_000_000_000 }, admin), {
        created: false,
        joinTokensVoided: 0,
      });
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, [{ principal: 'beta.web', expiresAt: 4_000_000_000_000 }]);
      await store.deleteRoleMember('alpha', 'readers', 'beta.web', admin);
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, []);
    });

    storeTest(harness, 'reports a missing role or member', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [], admin);
      await assert.rejects(store.putRoleMember('alpha', 'ghosts', { principal: 'beta.web', expiresAt: null }, admin), NotFoundError);
      await assert.rejects(store.deleteRoleMember('alpha', 'readers', 'beta.web', admin), NotFoundError);
      await assert.rejects(store.deleteRoleMember('alpha', 'ghosts', 'beta.web', admin), NotFoundError);
      await assert.rejects(store.deleteRole('alpha', 'ghosts', admin), NotFoundError);
      assert.equal(await store.getRole('alpha', 'ghosts'), null);
    });

    storeTest(harness, 'accepts members that are not registered services', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'later.service', expiresAt: null }], admin);
      await store.putRoleMember('alpha', 'readers', { principal: 'even.later', expiresAt: null }, admin);
      assert.deepEqual(await store.rolesHeld('later.service', ['alpha'], Date.now()), [
        { domain: 'alpha', role: 'readers', maxLifetime: null, expiresAt: null },
      ]);
    });

    storeTest(harness, "leaves expired memberships and other domains out of rolesHeld, and gives each held role its membership's end", async (store) => {
      const now = Date.now();
      for (const name of ['alpha', 'beta', 'gamma']) await store.createDomain({ name }, admin);
      await store.putRole('alpha', 'writers', [{ principal: 'x.api', expiresAt: now + 1 }], admin);
      await store.putRole('alpha', 'readers', [{ principal: 'x.api', expiresAt: null }], admin);
      await store.putRole('alpha', 'expired', [{ principal: 'x.api', expiresAt: now }], admin);
      await store.putRole('beta', 'readers', [{ principal: 'x.api', expiresAt: now - 1000 }], admin);
      await store.putRole('gamma', 'readers', [{ principal: 'x.api', expiresAt: null }], admin);

      assert.deepEqual(await store.rolesHeld('x.api', ['alpha', 'beta'], now), [
        { domain: 'alpha', role: 'readers', maxLifetime: null, expiresAt: null },
        { domain: 'alpha', role: 'writers', maxLifetime: null, expiresAt: now + 1 },
      ]);
      assert.deepEqual(await store.rolesHeld('x.api', ['alpha'], now + 1), [{ domain: 'alpha', role: 'readers', maxLifetime: null, expiresAt: null }]);
      assert.deepEqual(await store.rolesHeld('x.api', [], now), []);
      assert.deepEqual(await store.rolesHeld('y.api', ['alpha', 'gamma'], now), []);
    });

    storeTest(harness, 'lists every membership of a principal in every domain, expired ones included', async (store) => {
      const now = Date.now();
      for (const name of ['beta', 'alpha']) await store.createDomain({ name }, admin);
      await store.putRole('beta', 'readers', [{ principal: 'x.api', expiresAt: null }], admin);
      await store.putRole('alpha', 'writers', [{ principal: 'x.api', expiresAt: now - 1000 }], admin);
      await store.putRole(
        'alpha',
        'readers',
        [
          { principal: 'x.api', expiresAt: now + 1000 },
          { principal: 'y.api', expiresAt: null },
        ],
        admin,
      );
      await store.putRole('alpha', 'others', [{ principal: 'y.api', expiresAt: null }], admin);

      assert.deepEqual(await store.membershipsOf('x.api'), [
        { domain: 'alpha', role: 'readers', expiresAt: now + 1000 },
        { domain: 'alpha', role: 'writers', expiresAt: now - 1000 },
        { domain: 'beta', role: 'readers', expiresAt: null },
      ]);
      assert.deepEqual(await store.membershipsOf('nobody.at.all'), []);
    });

    storeTest(harness, "lists a domain's roles with their members", async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      await store.putRole('alpha', 'writers', [{ principal: 'a.one', expiresAt: null }], admin);
      await store.putRole(
        'alpha',
        'readers',
        [
          { principal: 'b.two', expiresAt: null },
          { principal: 'a.one', expiresAt: null },
        ],
        admin,
      );
      await store.putRole('beta', 'readers', [{ principal: 'c.three', expiresAt: null }], admin);
      const listed = await store.listRoles('alpha');
      assert.deepEqual(
        listed.map((role) => ({ name: role.name, members: role.members.map((member) => member.principal) })),
        [
          { name: 'readers', members: ['a.one', 'b.two'] },
          { name: 'writers', members: ['a.one'] },
        ],
      );
    });

    storeTest(harness, 'deletes a role with its members', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'x.api', expiresAt: null }], admin);
      await store.deleteRole('alpha', 'readers', admin);
      assert.equal(await store.getRole('alpha', 'readers'), null);
      assert.deepEqual(await store.rolesHeld('x.api', ['alpha'], Date.now()), []);
      await store.putRole('alpha', 'readers', undefined, admin);
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, []);
    });

    describe('roles of many members', () => {
      const named = (from: number, to: number, expiresAt: number | null = null) =>
        Array.from({ length: to - from }, (_, i) => ({ principal: `beta.m${String(from + i).padStart(5, '0')}`, expiresAt }));

      storeTest(
        harness,
        'replaces 2,500 members in a few statements, the feed naming each member changed once, in one run of numbers',
        async (store, driver) => {
          await store.createDomain({ name: 'alpha' }, admin);
          await store.putRole('alpha', 'many', named(0, 2500), admin);
          const start = await store.changeCounter();
          const sent = await statementsSent(driver.dialect);
          // 0-1249 removed, 1250-1300 given an expiry, 1301-2499 kept, 2500-3749 added.
          const next = [...named(1250, 1301, 4_000_000_000_000), ...named(1301, 3750)];
          const { role } = await store.putRole('alpha', 'many', next, admin);
          const statements = (await statementsSent(driver.dialect)) - sent;
          assert.ok(statements <= 40, `${statements} statements`);
          assert.equal(role.members.length, 2500);
          assert.deepEqual(await store.listRoleMembers('alpha', 'many', { limit: 3000 }), next);
          const feed = await store.readChanges(start, 10_000);
          assert.deepEqual(
            feed.map((row) => row.seq),
            Array.from({ length: 1250 + 51 + 1250 }, (_, i) => start + 1 + i),
          );
          const expected = [...named(0, 1301), ...named(2500, 3750)].map((m) => `member:${m.principal}`).sort();
          assert.deepEqual(feed.map((row) => `${row.scope}:${row.key}`).sort(), expected);
          assert.equal(await store.changeCounter(), start + 2551);

          // The audit names the first 100 of each kind of change, and how many there were: not the lists.
          const [event] = await store.queryAudit({ type: 'role.put', limit: 1 });
          const after = event!.after as Record<string, unknown>;
          assert.equal((event!.before as Record<string, unknown>)['memberCount'], 2500);
          assert.equal(after['memberCount'], 2500);
          assert.deepEqual([after['addedCount'], after['removedCount'], after['expiryChangedCount']], [1250, 1250, 51]);
          assert.deepEqual((after['added'] as unknown[]).slice(0, 1), named(2500, 2501));
          assert.deepEqual((after['removed'] as unknown[]).slice(0, 1), ['beta.m00000']);
          assert.deepEqual((after['expiryChanged'] as unknown[])[0], { principal: 'beta.m01250', expiresAt: 4_000_000_000_000, previousExpiresAt: null });
          assert.equal((after['added'] as unknown[]).length, 100);
          assert.equal('members' in after || 'members' in (event!.before as object), false);
          assert.ok(JSON.stringify(event).length < 64 * 1024);

          // A role deleted: its member count and first 100 members.
          await store.deleteRole('alpha', 'many', admin);
          const [deleted] = await store.queryAudit({ type: 'role.delete', limit: 1 });
          const before = deleted!.before as { memberCount: number; members: unknown[] };
          assert.equal(before.memberCount, 2500);
          assert.deepEqual(
            before.members,
            named(1250, 1350, null).map((m, i) => (i <= 50 ? { ...m, expiresAt: 4_000_000_000_000 } : m)),
          );
        },
      );

      storeTest(harness, "voids the join tokens of only the members becoming another domain's admin, among many", async (_store, driver) => {
        const store = new SqlStore(driver, { now: () => T0 });
        await store.createDomain({ name: 'alpha' }, admin);
        await store.createDomain({ name: 'beta' }, admin);
        for (const name of ['s1', 's2', 's3']) await store.createService({ domain: 'beta', name }, {}, admin);
        // beta.s3 is an admin already: a new expiry of its membership voids nothing.
        await store.putRole('alpha', 'admin', [{ principal: 'beta.s3', expiresAt: null }], admin);
        for (const [id, principal] of [
          ['j1', 'beta.s1'],
          ['j2', 'beta.s1'],
          ['j3', 'beta.s2'],
          ['j4', 'beta.s3'],
        ]) {
          await store.createJoinToken({ id: id!, principal: principal!, hash: `H-${id}`, expiresAt: T0 + 600_000 }, admin);
        }
        const members = [...named(0, 1500), { principal: 'beta.s1', expiresAt: null }, { principal: 'beta.s2', expiresAt: null }];
        members.push({ principal: 'beta.s3', expiresAt: T0 + 60_000 });
        const put = await store.putRole('alpha', 'admin', members, admin);
        assert.equal(put.joinTokensVoided, 3);
        const voids = await store.queryAudit({ type: 'join-token.void', limit: 10 });
        assert.deepEqual(voids.map((e) => [e.target, (e.after as { ids: string[] }).ids]).sort(), [
          ['beta.s1', ['j1', 'j2']],
          ['beta.s2', ['j3']],
        ]);
        assert.notEqual(await store.getJoinToken('j4', T0), null, 'the token of a member who was an admin already stays');

        // The bulk addition: the previous expiry of each member updated, in its audit.
        const bulk = await store.putRoleMembers('alpha', 'admin', [{ principal: 'beta.s3', expiresAt: null }, ...named(1500, 1600)], admin);
        assert.deepEqual(bulk, { created: 100, updated: 1, joinTokensVoided: 0 });
        const [many] = await store.queryAudit({ type: 'role-member.put-many', limit: 1 });
        assert.deepEqual(many!.before, { members: [{ principal: 'beta.s3', expiresAt: T0 + 60_000 }] });
        assert.equal((many!.after as { members: unknown[] }).members.length, 100);
      });
    });
  });
}

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { NotFoundError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

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
      assert.deepEqual(await store.putRoleMember('alpha', 'readers', { principal: 'beta.web', expiresAt: null }, admin), { created: true, joinTokensVoided: 0 });
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
      assert.deepEqual(await store.rolesHeld('later.service', ['alpha'], Date.now()), [{ domain: 'alpha', role: 'readers', maxLifetime: null, expiresAt: null }]);
    });

    storeTest(harness, 'leaves expired memberships and other domains out of rolesHeld, and gives each held role its membership\'s end', async (store) => {
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
      await store.putRole('alpha', 'readers', [{ principal: 'x.api', expiresAt: now + 1000 }, { principal: 'y.api', expiresAt: null }], admin);
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
      await store.putRole('alpha', 'readers', [{ principal: 'b.two', expiresAt: null }, { principal: 'a.one', expiresAt: null }], admin);
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
  });
}

// Token lifetime limits on domains and roles, and how rolesHeld combines them.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { NotFoundError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

export function tokenLimits(harness: StoreHarness): void {
  describe('domain settings', () => {
    storeTest(harness, 'creates a domain with or without a token lifetime limit', async (store) => {
      const limited = await store.createDomain({ name: 'alpha', tokenMaxLifetime: 3600 }, admin);
      const open = await store.createDomain({ name: 'beta' }, admin);
      assert.equal(limited.tokenMaxLifetime, 3600);
      assert.equal(open.tokenMaxLifetime, null);
      assert.deepEqual(await store.getDomain('alpha'), limited);
      assert.deepEqual(await store.listDomains(), [limited, open]);
    });

    storeTest(harness, 'updates only the fields a patch names', async (store) => {
      const created = await store.createDomain({ name: 'alpha', description: 'the alpha team', tokenMaxLifetime: 3600 }, admin);

      const shorter = await store.updateDomain('alpha', { tokenMaxLifetime: 600 }, admin);
      assert.equal(shorter.tokenMaxLifetime, 600);
      assert.equal(shorter.description, 'the alpha team');
      assert.equal(shorter.createdAt, created.createdAt);
      assert.ok(shorter.updatedAt >= created.updatedAt);
      assert.deepEqual(await store.getDomain('alpha'), shorter);

      const undescribed = await store.updateDomain('alpha', { description: null }, admin);
      assert.deepEqual([undescribed.description, undescribed.tokenMaxLifetime], [null, 600]);

      const unlimited = await store.updateDomain('alpha', { tokenMaxLifetime: null }, admin);
      assert.deepEqual([unlimited.description, unlimited.tokenMaxLifetime], [null, null]);
      assert.deepEqual(await store.getDomain('alpha'), unlimited);
    });

    storeTest(harness, 'audits a domain update with the domain before and after', async (store) => {
      const before = await store.createDomain({ name: 'alpha' }, admin);
      const after = await store.updateDomain('alpha', { description: 'd', tokenMaxLifetime: 900 }, { actor: 'alpha.admin' });
      const [event] = await store.queryAudit({ type: 'domain.update', limit: 10 });
      assert.deepEqual(
        { actor: event?.actor, target: event?.target, before: event?.before, after: event?.after },
        { actor: 'alpha.admin', target: 'alpha', before, after },
      );
    });

    storeTest(harness, 'reports updating a missing domain, and records nothing', async (store) => {
      await assert.rejects(store.updateDomain('ghost', { tokenMaxLifetime: 60 }, admin), NotFoundError);
      assert.equal(await store.getDomain('ghost'), null);
      assert.deepEqual(await store.queryAudit({ limit: 10 }), []);
    });
  });

  describe('token lifetime limits', () => {
    storeTest(harness, "sets, keeps and clears a role's limit", async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const member = { principal: 'beta.web', expiresAt: null };

      const plain = await store.putRole('alpha', 'readers', [member], admin);
      assert.equal(plain.role.tokenMaxLifetime, null);
      const limited = await store.putRole('alpha', 'readers', undefined, admin, { tokenMaxLifetime: 900 });
      assert.equal(limited.role.tokenMaxLifetime, 900);
      assert.deepEqual(limited.role.members, [member]);
      // No settings, or settings without the limit, leave it as it is.
      assert.equal((await store.putRole('alpha', 'readers', [], admin)).role.tokenMaxLifetime, 900);
      assert.equal((await store.putRole('alpha', 'readers', undefined, admin, {})).role.tokenMaxLifetime, 900);
      assert.equal((await store.getRole('alpha', 'readers'))?.tokenMaxLifetime, 900);

      const cleared = await store.putRole('alpha', 'readers', undefined, admin, { tokenMaxLifetime: null });
      assert.equal(cleared.role.tokenMaxLifetime, null);
      assert.deepEqual(await store.getRole('alpha', 'readers'), cleared.role);

      const born = await store.putRole('alpha', 'writers', [], admin, { tokenMaxLifetime: 300 });
      assert.deepEqual({ created: born.created, limit: born.role.tokenMaxLifetime }, { created: true, limit: 300 });
      assert.deepEqual(
        (await store.listRoles('alpha')).map((role) => [role.name, role.tokenMaxLifetime]),
        [
          ['readers', null],
          ['writers', 300],
        ],
      );
    });

    storeTest(harness, 'records the limit in the role.put audit event', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const first = await store.putRole('alpha', 'readers', [], admin);
      const second = await store.putRole('alpha', 'readers', undefined, admin, { tokenMaxLifetime: 120 });
      const [event] = await store.queryAudit({ type: 'role.put', limit: 1 });
      // The role and its member count: the members changed are named, not the whole list.
      const summary = ({ members, ...role }: typeof first.role) => ({ ...role, memberCount: members.length });
      assert.deepEqual(event?.before, summary(first.role));
      const none = { added: [], addedCount: 0, removed: [], removedCount: 0, expiryChanged: [], expiryChangedCount: 0 };
      assert.deepEqual(event?.after, { ...summary(second.role), ...none });
    });

    storeTest(harness, "gives each held role the smaller of its own and its domain's limit", async (store) => {
      await store.createDomain({ name: 'alpha', tokenMaxLifetime: 3600 }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      const holder = [{ principal: 'x.api', expiresAt: null }];
      await store.putRole('alpha', 'short', holder, admin, { tokenMaxLifetime: 600 });
      await store.putRole('alpha', 'long', holder, admin, { tokenMaxLifetime: 7200 });
      await store.putRole('alpha', 'plain', holder, admin);
      await store.putRole('beta', 'capped', holder, admin, { tokenMaxLifetime: 1200 });
      await store.putRole('beta', 'plain', holder, admin);

      const now = Date.now();
      assert.deepEqual(await store.rolesHeld('x.api', ['alpha', 'beta'], now), [
        { domain: 'alpha', role: 'long', maxLifetime: 3600, expiresAt: null },
        { domain: 'alpha', role: 'plain', maxLifetime: 3600, expiresAt: null },
        { domain: 'alpha', role: 'short', maxLifetime: 600, expiresAt: null },
        { domain: 'beta', role: 'capped', maxLifetime: 1200, expiresAt: null },
        { domain: 'beta', role: 'plain', maxLifetime: null, expiresAt: null },
      ]);

      await store.updateDomain('alpha', { tokenMaxLifetime: null }, admin);
      assert.deepEqual(await store.rolesHeld('x.api', ['alpha'], now), [
        { domain: 'alpha', role: 'long', maxLifetime: 7200, expiresAt: null },
        { domain: 'alpha', role: 'plain', maxLifetime: null, expiresAt: null },
        { domain: 'alpha', role: 'short', maxLifetime: 600, expiresAt: null },
      ]);
    });

    storeTest(harness, 'refuses a limit that is not whole seconds above zero, and stores nothing', async (store) => {
      await store.createDomain({ name: 'alpha', tokenMaxLifetime: 60 }, admin);
      await store.putRole('alpha', 'readers', [], admin, { tokenMaxLifetime: 60 });
      const events = await store.queryAudit({ limit: 100 });
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(store.createDomain({ name: 'beta', tokenMaxLifetime: bad }, admin), RangeError);
        await assert.rejects(store.updateDomain('alpha', { tokenMaxLifetime: bad }, admin), RangeError);
        await assert.rejects(store.putRole('alpha', 'readers', undefined, admin, { tokenMaxLifetime: bad }), RangeError);
        await assert.rejects(store.putRole('alpha', 'writers', [], admin, { tokenMaxLifetime: bad }), RangeError);
      }
      assert.equal(await store.getDomain('beta'), null);
      assert.equal((await store.getDomain('alpha'))?.tokenMaxLifetime, 60);
      assert.equal((await store.getRole('alpha', 'readers'))?.tokenMaxLifetime, 60);
      assert.equal(await store.getRole('alpha', 'writers'), null);
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
    });
  });
}

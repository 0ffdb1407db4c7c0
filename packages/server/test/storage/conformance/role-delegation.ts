// A role's actors and impersonators (token exchange): stored, read back with the role and with
// each membership (rolesHeld, the registry record), audited, and recorded in the change feed as
// the domain's change in the same transaction, on both backends.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

export function roleDelegation(harness: StoreHarness): void {
  describe('role actors and impersonators', () => {
    storeTest(harness, 'stores them sorted and once each, keeps them when a put leaves them out, and clears them with []', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const created = await store.putRole('alpha', 'readers', [{ principal: 'beta.web', expiresAt: null }], admin, {
        actors: ['gw.edge', 'beta.proxy', 'gw.edge'],
        impersonators: ['ops.tool'],
      });
      assert.deepEqual(created.role.actors, ['beta.proxy', 'gw.edge']);
      assert.deepEqual(created.role.impersonators, ['ops.tool']);
      assert.deepEqual(await store.getRole('alpha', 'readers'), created.role);
      assert.deepEqual((await store.listRoles('alpha'))[0], created.role);

      const kept = await store.putRole('alpha', 'readers', [], admin, { tokenMaxLifetime: 600 });
      assert.deepEqual([kept.role.actors, kept.role.impersonators], [['beta.proxy', 'gw.edge'], ['ops.tool']]);
      const cleared = await store.putRole('alpha', 'readers', undefined, admin, { actors: [], impersonators: [] });
      assert.deepEqual([cleared.role.actors, cleared.role.impersonators], [[], []]);
      const plain = await store.putRole('alpha', 'writers', undefined, admin);
      assert.deepEqual([plain.role.actors, plain.role.impersonators], [[], []], 'a new role names nobody');
    });

    storeTest(harness, 'reads them with each membership, and not at all for a role that names nobody', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const member = [{ principal: 'beta.web', expiresAt: null }];
      await store.putRole('alpha', 'readers', member, admin, { actors: ['gw.edge'] });
      await store.putRole('alpha', 'writers', member, admin);
      const now = Date.now();
      assert.deepEqual(await store.rolesHeld('beta.web', ['alpha'], now), [
        {
          domain: 'alpha',
          role: 'readers',
          maxLifetime: null,
          expiresAt: null,
          delegation: { actors: ['gw.edge'], impersonators: [], idTokenSubjects: false },
        },
        { domain: 'alpha', role: 'writers', maxLifetime: null, expiresAt: null },
      ]);
      const record = await store.loadRegistryRecord('principal', 'beta.web');
      assert.deepEqual(record.memberships[0]?.delegation, { actors: ['gw.edge'], impersonators: [], idTokenSubjects: false });
      assert.equal(record.memberships[1]?.delegation, undefined);
    });

    storeTest(
      harness,
      'stores idTokenSubjects (false by default), reads it with each membership, audits it and feeds it as the domain’s change',
      async (store) => {
        await store.createDomain({ name: 'alpha' }, admin);
        const member = [{ principal: 'beta.web', expiresAt: null }];
        const plain = await store.putRole('alpha', 'readers', member, admin, { actors: ['gw.edge'] });
        assert.equal(plain.role.idTokenSubjects, false, 'off for a new role');
        const before = await store.changeCounter();
        const on = await store.putRole('alpha', 'readers', undefined, { actor: 'alpha.admin' }, { idTokenSubjects: true });
        assert.equal(on.role.idTokenSubjects, true);
        assert.deepEqual(await store.getRole('alpha', 'readers'), on.role);
        assert.deepEqual(
          (await store.readChanges(before, 10)).map((row) => `${row.scope}:${row.key}`),
          ['domain:alpha'],
        );
        const [event] = await store.queryAudit({ type: 'role.put', limit: 1 });
        assert.deepEqual(
          [(event?.before as { idTokenSubjects: boolean }).idTokenSubjects, (event?.after as { idTokenSubjects: boolean }).idTokenSubjects],
          [false, true],
        );
        const kept = await store.putRole('alpha', 'readers', undefined, admin, { tokenMaxLifetime: 600 });
        assert.equal(kept.role.idTokenSubjects, true, 'kept when a put leaves it out');
        assert.deepEqual(await store.rolesHeld('beta.web', ['alpha'], Date.now()), [
          {
            domain: 'alpha',
            role: 'readers',
            maxLifetime: 600,
            expiresAt: null,
            delegation: { actors: ['gw.edge'], impersonators: [], idTokenSubjects: true },
          },
        ]);
        const record = await store.loadRegistryRecord('principal', 'beta.web');
        assert.deepEqual(record.memberships[0]?.delegation, { actors: ['gw.edge'], impersonators: [], idTokenSubjects: true });
        const off = await store.putRole('alpha', 'readers', undefined, admin, { idTokenSubjects: false });
        assert.equal(off.role.idTokenSubjects, false);
      },
    );

    storeTest(harness, 'refuses a name that is not a principal, and more than 100', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await assert.rejects(store.putRole('alpha', 'readers', [], admin, { actors: ['not a principal'] }), /not a principal name/);
      const many = Array.from({ length: 101 }, (_, i) => `gw.s${i}`);
      await assert.rejects(store.putRole('alpha', 'readers', [], admin, { impersonators: many }), /at most 100/);
    });

    storeTest(harness, "audits a change of them, and records it in the feed as the domain's change", async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'beta.web', expiresAt: null }], admin);
      const before = await store.changeCounter();
      await store.putRole('alpha', 'readers', undefined, { actor: 'alpha.admin' }, { actors: ['gw.edge'] });
      const rows = await store.readChanges(before, 10);
      assert.deepEqual(
        rows.map((row) => `${row.scope}:${row.key}`),
        ['domain:alpha'],
      );
      const [event] = await store.queryAudit({ type: 'role.put', limit: 1 });
      assert.equal(event?.actor, 'alpha.admin');
      assert.deepEqual((event?.before as { actors: string[] }).actors, []);
      assert.deepEqual((event?.after as { actors: string[] }).actors, ['gw.edge']);

      const unchanged = await store.changeCounter();
      await store.putRole('alpha', 'readers', undefined, admin, { actors: ['gw.edge'] });
      assert.equal(await store.changeCounter(), unchanged, 'the same list again changes nothing a cache holds');
    });
  });
}

// The admin API's lists read a page at a time (keyset: the rows after the last one shown, in a
// stable order), and role members are added in bulk through the same write as one member.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { NotFoundError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

/** Every row, `limit` at a time: `read` gets the last row of the previous page (undefined first). */
async function walk<T>(limit: number, read: (after: T | undefined) => Promise<T[]>): Promise<T[]> {
  const all: T[] = [];
  let after: T | undefined;
  for (;;) {
    const page = await read(after);
    assert.ok(page.length <= limit);
    all.push(...page);
    if (page.length < limit) return all;
    after = page.at(-1);
  }
}

const PEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1d7T5Kk8t0T0XQm1f4kJ8Q5nC6cWm1Tz0Kq0o6u8m3dQy7cR2J8h0xF5m9uJ4nQ3gS6Zt1bP7tV0cYkA2q9e3w==
-----END PUBLIC KEY-----`;

export function pages(harness: StoreHarness): void {
  describe('pages of lists', () => {
    storeTest(harness, 'pages domains, services and roles by name, each once and in order', async (store) => {
      const domains = ['d3', 'd1', 'd4', 'd2', 'd0'];
      for (const name of domains) await store.createDomain({ name }, admin);
      const byName = await walk(2, (after?: { name: string }) => store.listDomains({ limit: 2, after: after?.name }));
      assert.deepEqual(
        byName.map((d) => d.name),
        [...domains].sort(),
      );
      const some = await walk(1, (after?: { name: string }) => store.listDomains({ limit: 1, after: after?.name, names: ['d4', 'd1', 'ghost'] }));
      assert.deepEqual(
        some.map((d) => d.name),
        ['d1', 'd4'],
      );
      assert.deepEqual(await store.listDomains({ limit: 10, names: [] }), []);

      for (let i = 0; i < 7; i++) await store.createService({ domain: 'd1', name: `s${6 - i}` }, {}, admin);
      await store.createService({ domain: 'd2', name: 'other' }, {}, admin);
      const services = await walk(3, (after?: { name: string }) => store.listServices('d1', { limit: 3, after: after?.name }));
      assert.deepEqual(
        services.map((s) => s.name),
        ['s0', 's1', 's2', 's3', 's4', 's5', 's6'],
      );
      assert.deepEqual(services, await store.listServices('d1'));

      for (const name of ['r2', 'r0', 'r1']) {
        const members = Array.from({ length: 5 }, (_, i) => ({ principal: `x.m${i}`, expiresAt: null }));
        await store.putRole('d1', name, members, admin);
      }
      const roles = await walk(2, (after?: { name: string }) => store.listRoles('d1', { limit: 2, after: after?.name, memberLimit: 3 }));
      assert.deepEqual(
        roles.map((r) => r.name),
        ['r0', 'r1', 'r2'],
      );
      for (const role of roles)
        assert.deepEqual(
          role.members.map((m) => m.principal),
          ['x.m0', 'x.m1', 'x.m2'],
        );
      assert.equal((await store.getRole('d1', 'r0', 2))?.members.length, 2);
      assert.equal((await store.getRole('d1', 'r0'))?.members.length, 5);
    });

    storeTest(harness, 'pages role members by principal, and keeps its place while members come and go', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const members = Array.from({ length: 250 }, (_, i) => ({
        principal: `p.m${String(i).padStart(3, '0')}`,
        expiresAt: i % 2 === 0 ? null : 4_000_000_000_000,
      }));
      await store.putRole('alpha', 'big', members, admin);
      await store.putRole('alpha', 'other', [{ principal: 'p.zz', expiresAt: null }], admin);
      let round = 0;
      const walked = await walk(100, async (after?: { principal: string }) => {
        if (after !== undefined) {
          // One behind the place goes, one ahead arrives.
          round += 1;
          await store.deleteRoleMember('alpha', 'big', after.principal, admin);
          await store.putRoleMember('alpha', 'big', { principal: `p.n${round}`, expiresAt: null }, admin);
        }
        return store.listRoleMembers('alpha', 'big', { limit: 100, after: after?.principal });
      });
      assert.deepEqual(walked.slice(0, 250), members);
      assert.deepEqual(
        walked.slice(250).map((m) => m.principal),
        ['p.n1', 'p.n2'],
      );
      assert.deepEqual(await store.listRoleMembers('alpha', 'ghost', { limit: 10 }), []);
    });

    storeTest(harness, 'pages keys oldest first, API keys newest first, service accounts oldest first, audit newest first', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      for (let i = 0; i < 5; i++) {
        await store.createApiKey({ id: `k${i}`, principal: 'alpha.api', audience: 'alpha', hash: `h${i}`, description: null, expiresAt: null }, admin);
      }
      const apiKeys = await walk(2, (after?: { createdAt: number; id: string }) =>
        store.listApiKeys('alpha.api', { limit: 2, after: after && { createdAt: after.createdAt, id: after.id } }),
      );
      assert.deepEqual(apiKeys, await store.listApiKeys('alpha.api'));
      assert.equal(apiKeys.length, 5);
      assert.equal(new Set(apiKeys.map((k) => k.id)).size, 5);

      for (const kid of ['b', 'a', 'c']) await store.putPublicKey('alpha.api', kid, PEM, admin);
      const keys = await walk(2, (after?: { createdAt: number; kid: string }) =>
        store.listPublicKeys('alpha.api', { limit: 2, after: after && { createdAt: after.createdAt, id: after.kid } }),
      );
      assert.deepEqual(keys, await store.listPublicKeys('alpha.api'));
      assert.equal(keys.length, 3);

      for (const name of ['one', 'two', 'three']) {
        await store.createService({ domain: 'alpha', name, accountId: `svc_${name}` }, {}, admin);
      }
      await store.createDomain({ name: 'beta' }, admin);
      await store.createService({ domain: 'beta', name: 'four', accountId: 'svc_four' }, {}, admin);
      const accounts = await walk(1, (after?: { createdAt: number; principal: string }) =>
        store.listServiceAccounts({ limit: 1, after: after && { createdAt: after.createdAt, id: after.principal } }),
      );
      assert.deepEqual(accounts, await store.listServiceAccounts());
      assert.equal(accounts.length, 4);
      const alphaOnly = await store.listServiceAccounts({ limit: 10, domains: ['alpha'] });
      assert.deepEqual(
        alphaOnly.map((s) => s.accountId),
        accounts.filter((s) => s.domain === 'alpha').map((s) => s.accountId),
      );

      const events = await walk(3, (after?: { at: number; id: number }) => store.queryAudit({ limit: 3, after: after && { at: after.at, id: after.id } }));
      assert.deepEqual(events, await store.queryAudit({ limit: 1000 }));
      assert.ok(events.length >= 14);
    });
  });

  describe('bulk member addition', () => {
    storeTest(harness, 'adds and updates members in one transaction, keeps the others, audits once', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.putRole(
        'alpha',
        'readers',
        [
          { principal: 'x.kept', expiresAt: null },
          { principal: 'x.changed', expiresAt: null },
        ],
        admin,
      );
      const result = await store.putRoleMembers(
        'alpha',
        'readers',
        [
          { principal: 'x.changed', expiresAt: 4_000_000_000_000 },
          { principal: 'x.new', expiresAt: null },
        ],
        admin,
      );
      assert.deepEqual(result, { created: 1, updated: 1, joinTokensVoided: 0 });
      assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, [
        { principal: 'x.changed', expiresAt: 4_000_000_000_000 },
        { principal: 'x.kept', expiresAt: null },
        { principal: 'x.new', expiresAt: null },
      ]);
      const events = await store.queryAudit({ type: 'role-member.put-many', limit: 10 });
      assert.equal(events.length, 1);
      assert.equal(events[0]!.target, 'alpha:role.readers');
      assert.deepEqual(events[0]!.after, {
        created: 1,
        updated: 1,
        joinTokensVoided: 0,
        members: [
          { principal: 'x.changed', expiresAt: 4_000_000_000_000 },
          { principal: 'x.new', expiresAt: null },
        ],
      });
      await assert.rejects(store.putRoleMembers('alpha', 'ghost', [{ principal: 'x.y', expiresAt: null }], admin), NotFoundError);
      assert.equal((await store.queryAudit({ type: 'role-member.put-many', limit: 10 })).length, 1);
    });

    storeTest(harness, "voids the join tokens of a member made another domain's admin, as putRoleMember does", async (store) => {
      const now = Date.now();
      for (const name of ['alpha', 'beta']) await store.createDomain({ name }, admin);
      await store.putRole('beta', 'admin', [], admin);
      await store.putRole('beta', 'readers', [], admin);
      for (const name of ['granted', 'reader', 'own']) await store.createService({ domain: 'alpha', name }, {}, admin);
      for (const [id, principal] of [
        ['t1', 'alpha.granted'],
        ['t2', 'alpha.granted'],
        ['t3', 'alpha.reader'],
        ['t4', 'alpha.own'],
      ] as const) {
        await store.createJoinToken({ id, principal, hash: `h-${id}`, expiresAt: now + 3_600_000 }, admin);
      }
      // Another domain's ordinary role keeps the tokens; its admin role voids them.
      assert.equal((await store.putRoleMembers('beta', 'readers', [{ principal: 'alpha.reader', expiresAt: null }], admin)).joinTokensVoided, 0);
      const granted = await store.putRoleMembers(
        'beta',
        'admin',
        [
          { principal: 'alpha.granted', expiresAt: null },
          { principal: 'alpha.ghost', expiresAt: null },
        ],
        admin,
      );
      assert.deepEqual(granted, { created: 2, updated: 0, joinTokensVoided: 2 });
      assert.deepEqual(await store.listJoinTokens('alpha.granted', { limit: 10, now }), []);
      assert.equal((await store.listJoinTokens('alpha.reader', { limit: 10, now })).length, 1);
      assert.equal((await store.listJoinTokens('alpha.own', { limit: 10, now })).length, 1);
      const voids = await store.queryAudit({ type: 'join-token.void', limit: 10 });
      assert.equal(voids.length, 1);
      assert.equal(voids[0]!.target, 'alpha.granted');
      // Held already: a new expiry voids nothing more.
      await store.createJoinToken({ id: 't5', principal: 'alpha.granted', hash: 'h-t5', expiresAt: now + 3_600_000 }, admin);
      assert.equal((await store.putRoleMembers('beta', 'admin', [{ principal: 'alpha.granted', expiresAt: 4_000_000_000_000 }], admin)).joinTokensVoided, 0);
    });
  });
}

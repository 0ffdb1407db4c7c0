// One-time join tokens: bound to one service, used once (across instances too), and kept only
// as a keyed hash that no audit event repeats.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import type { JoinTokenRecord } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { Store } from '../../../src/storage/store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, storeTest } from './harness.ts';
import type { SqlDriver } from '../../../src/storage/drivers/driver.ts';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

function joinToken(id: string, principal = 'alpha.api', expiresAt = T0 + 10 * MINUTE): Omit<JoinTokenRecord, 'createdAt' | 'usedAt'> {
  return { id, principal, hash: `HASH-OF-${id}`, expiresAt };
}

async function withServices(store: Store): Promise<void> {
  await store.createDomain({ name: 'alpha' }, admin);
  await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
  await store.createService({ domain: 'alpha', name: 'web' }, {}, admin);
}

/** A test whose store's clock stands at T0: creating a token clears out those expired by then. */
function tokenTest(harness: StoreHarness, name: string, fn: (store: SqlStore, driver: SqlDriver) => Promise<void>): void {
  storeTest(harness, name, (_store, driver) => fn(new SqlStore(driver, { now: () => T0 }), driver));
}

export function joinTokens(harness: StoreHarness): void {
  describe('join tokens', () => {
    storeTest(harness, 'creates a token for a service, unused, and stores only what it is given', async (_store, driver) => {
      const store = new SqlStore(driver, { now: () => T0 });
      await withServices(store);
      const created = await store.createJoinToken(joinToken('jt-1'), admin);
      assert.deepEqual(created, { ...joinToken('jt-1'), createdAt: T0, usedAt: null });
      const [row] = await driver.all<Record<string, unknown>>('SELECT * FROM join_tokens');
      assert.deepEqual({ ...row }, { id: 'jt-1', principal: 'alpha.api', hash: 'HASH-OF-jt-1', created_at: T0, expires_at: T0 + 10 * MINUTE, used_at: null });
    });

    tokenTest(harness, 'refuses a token for a missing service or with a used id, and records nothing', async (store) => {
      await withServices(store);
      await store.createJoinToken(joinToken('jt-1'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.createJoinToken(joinToken('jt-2', 'alpha.ghost'), admin), (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.match(error.message, /service alpha\.ghost not found/);
        return true;
      });
      await assert.rejects(store.createJoinToken(joinToken('jt-1', 'alpha.web'), admin), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /join token id jt-1 is already taken/);
        return true;
      });
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
      assert.deepEqual(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0), { principal: 'alpha.api' });
      assert.equal(await store.consumeJoinToken('jt-2', 'HASH-OF-jt-2', T0), null);
    });

    tokenTest(harness, 'is used once: the first use names the principal, every later one gets nothing', async (store, driver) => {
      await withServices(store);
      await store.createJoinToken(joinToken('jt-1', 'alpha.web'), admin);
      assert.deepEqual(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0 + MINUTE), { principal: 'alpha.web' });
      assert.equal(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0 + MINUTE), null);
      assert.equal(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0 + 2 * MINUTE), null);
      const row = await driver.get<{ used_at: number }>('SELECT used_at FROM join_tokens WHERE id = ?', ['jt-1']);
      assert.equal(row?.used_at, T0 + MINUTE);
    });

    tokenTest(harness, 'gives nothing for a wrong hash, an unknown id or an expired token, and a wrong try does not use it up', async (store) => {
      await withServices(store);
      await store.createJoinToken(joinToken('jt-1'), admin);
      await store.createJoinToken(joinToken('jt-2'), admin);
      assert.equal(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-2', T0), null);
      assert.equal(await store.consumeJoinToken('jt-1', '', T0), null);
      assert.equal(await store.consumeJoinToken('jt-9', 'HASH-OF-jt-1', T0), null);
      // Expired at expiresAt itself.
      assert.equal(await store.consumeJoinToken('jt-2', 'HASH-OF-jt-2', T0 + 10 * MINUTE), null);
      assert.deepEqual(await store.consumeJoinToken('jt-2', 'HASH-OF-jt-2', T0 + 10 * MINUTE - 1), { principal: 'alpha.api' });
      assert.deepEqual(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0), { principal: 'alpha.api' });
      assert.equal((await store.queryAudit({ type: 'join-token.use', limit: 10 })).length, 2);
    });

    tokenTest(harness, 'lets exactly one of many concurrent uses through', async (store) => {
      await withServices(store);
      for (let round = 0; round < 5; round++) {
        await store.createJoinToken(joinToken(`jt-${round}`), admin);
        const results = await Promise.all(Array.from({ length: 8 }, () => store.consumeJoinToken(`jt-${round}`, `HASH-OF-jt-${round}`, T0)));
        assert.equal(results.filter((result) => result !== null).length, 1);
      }
      assert.equal((await store.queryAudit({ type: 'join-token.use', limit: 100 })).length, 5);
    });

    peerTest(
      harness,
      'lets exactly one of two instances using the same token at once through',
      async (store, peer) => {
        await withServices(store);
        for (let round = 0; round < 10; round++) {
          await store.createJoinToken(joinToken(`jt-${round}`), admin);
          const results = await Promise.all(
            Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : peer).consumeJoinToken(`jt-${round}`, `HASH-OF-jt-${round}`, T0)),
          );
          assert.deepEqual(
            results.filter((result) => result !== null),
            [{ principal: 'alpha.api' }],
          );
        }
        assert.equal((await peer.queryAudit({ type: 'join-token.use', limit: 100 })).length, 10);
      },
      { now: () => T0 },
    );

    tokenTest(harness, 'audits creation and use by id and principal, never with the hash', async (store) => {
      await withServices(store);
      await store.createJoinToken(joinToken('jt-1'), { actor: 'alpha.admin' });
      await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0 + MINUTE);
      const events = (await store.queryAudit({ limit: 100 })).filter((event) => event.type.startsWith('join-token.')).reverse();
      assert.deepEqual(
        events.map(({ actor, type, target, before, after }) => ({ actor, type, target, before, after })),
        [
          {
            actor: 'alpha.admin',
            type: 'join-token.create',
            target: 'alpha.api',
            before: null,
            after: { id: 'jt-1', principal: 'alpha.api', expiresAt: T0 + 10 * MINUTE },
          },
          { actor: 'alpha.api', type: 'join-token.use', target: 'alpha.api', before: null, after: { id: 'jt-1', principal: 'alpha.api', usedAt: T0 + MINUTE } },
        ],
      );
      assert.ok(!JSON.stringify(await store.queryAudit({ limit: 100 })).includes('HASH-OF-'));
    });

    tokenTest(harness, 'deleting a service deletes its tokens, and a new service of that name cannot use them', async (store, driver) => {
      await withServices(store);
      await store.createJoinToken(joinToken('jt-1'), admin);
      await store.createJoinToken(joinToken('jt-2', 'alpha.web'), admin);
      await store.deleteService('alpha.api', admin);
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      assert.equal(await store.consumeJoinToken('jt-1', 'HASH-OF-jt-1', T0), null);
      const rows = await driver.all<{ id: string }>('SELECT id FROM join_tokens');
      assert.deepEqual(
        rows.map((row) => row.id),
        ['jt-2'],
      );
    });

    storeTest(harness, 'clears out expired tokens, used or not, when a new one is created', async (_store, driver) => {
      let clock = T0;
      const store = new SqlStore(driver, { now: () => clock });
      await withServices(store);
      await store.createJoinToken(joinToken('short', 'alpha.api', T0 + MINUTE), admin);
      await store.createJoinToken(joinToken('used', 'alpha.api', T0 + MINUTE), admin);
      await store.createJoinToken(joinToken('long', 'alpha.api', T0 + 60 * MINUTE), admin);
      await store.consumeJoinToken('used', 'HASH-OF-used', T0);
      clock = T0 + MINUTE;
      await store.createJoinToken(joinToken('new', 'alpha.web', T0 + 60 * MINUTE), admin);
      const rows = await driver.all<{ id: string }>('SELECT id FROM join_tokens ORDER BY id');
      assert.deepEqual(
        rows.map((row) => row.id),
        ['long', 'new'],
      );
    });

    tokenTest(harness, "voids a service's outstanding tokens when it gains another domain's admin role, in either write", async (store) => {
      await withServices(store);
      await store.createDomain({ name: 'beta' }, admin);
      await store.putRole('beta', 'admin', [], admin);
      for (const id of ['a-1', 'a-2', 'spent']) await store.createJoinToken(joinToken(id), admin);
      await store.createJoinToken(joinToken('w-1', 'alpha.web'), admin);
      await store.consumeJoinToken('spent', 'HASH-OF-spent', T0);
      assert.equal((await store.putRoleMember('beta', 'admin', { principal: 'alpha.api', expiresAt: null }, admin)).joinTokensVoided, 2);
      assert.equal(await store.consumeJoinToken('a-1', 'HASH-OF-a-1', T0), null);
      assert.deepEqual(await store.listJoinTokens('alpha.api', { limit: 10, now: T0 }), []);
      const [event] = await store.queryAudit({ type: 'join-token.void', limit: 5 });
      assert.deepEqual(event?.after, { principal: 'alpha.api', grantedRole: 'beta:role.admin', joinTokensVoided: 2, ids: ['a-1', 'a-2'] });
      const replaced = await store.putRole(
        'beta',
        'admin',
        [
          { principal: 'alpha.api', expiresAt: null },
          { principal: 'alpha.web', expiresAt: null },
        ],
        admin,
      );
      assert.equal(replaced.joinTokensVoided, 1);
      assert.equal(await store.getJoinToken('w-1', T0), null);
    });

    tokenTest(
      harness,
      "refuses, under the service's lock, a token whose maker does not administer a domain whose admin role the service holds",
      async (store) => {
        await withServices(store);
        await store.createDomain({ name: 'beta' }, admin);
        await store.putRole('beta', 'admin', [{ principal: 'alpha.api', expiresAt: null }], admin);
        const alphaOnly = (domain: string): boolean => domain === 'alpha';
        await assert.rejects(store.createJoinToken(joinToken('t-1'), admin, alphaOnly), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.match(error.message, /alpha\.api was given beta:role\.admin while this join token was being made/);
          return true;
        });
        assert.deepEqual(await store.listJoinTokens('alpha.api', { limit: 10, now: T0 }), []);
        await store.createJoinToken(joinToken('t-2'), admin, (domain) => domain === 'beta');
        await store.createJoinToken(joinToken('w-1', 'alpha.web'), admin, alphaOnly);
        assert.equal((await store.listJoinTokens('alpha.api', { limit: 10, now: T0 })).length, 1);
      },
    );

    tokenTest(harness, 'leaves no token behind when tokens are made while the grant commits', async (store) => {
      await withServices(store);
      await store.createDomain({ name: 'beta' }, admin);
      await store.putRole('beta', 'admin', [], admin);
      const alphaOnly = (domain: string): boolean => domain === 'alpha';
      const make = (i: number): Promise<string> =>
        store.createJoinToken(joinToken(`r-${i}`), admin, alphaOnly).then(
          () => 'made',
          (error: unknown) => (error instanceof ConflictError ? 'refused' : Promise.reject(error)),
        );
      // Makers before, beside and after the grant, all in flight at once (on PostgreSQL, on
      // several connections): each token is either voided by the grant or refused after it.
      const before = Array.from({ length: 15 }, (_, i) => make(i));
      const grant = store.putRoleMember('beta', 'admin', { principal: 'alpha.api', expiresAt: null }, admin);
      const after = Array.from({ length: 15 }, (_, i) => make(15 + i));
      const outcomes = await Promise.all([...before, ...after]);
      await grant;
      assert.deepEqual(await store.listJoinTokens('alpha.api', { limit: 100, now: T0 }), [], 'every token made before the grant was voided by it');
      assert.ok(outcomes.includes('refused'), `some maker came after the grant: ${outcomes.join(' ')}`);
    });

    tokenTest(harness, "keeps tokens through its own domain's admin role and other roles", async (store) => {
      await withServices(store);
      await store.createJoinToken(joinToken('a-1'), admin);
      await store.putRole('alpha', 'admin', [{ principal: 'alpha.api', expiresAt: null }], admin);
      await store.putRole('alpha', 'readers', [], admin);
      assert.equal((await store.putRoleMember('alpha', 'readers', { principal: 'alpha.api', expiresAt: null }, admin)).joinTokensVoided, 0);
      assert.deepEqual(await store.getJoinToken('a-1', T0), { id: 'a-1', principal: 'alpha.api', createdAt: T0, expiresAt: T0 + 10 * MINUTE });
    });

    tokenTest(harness, "lists outstanding tokens a page at a time, and deletes one of the principal's only", async (store) => {
      await withServices(store);
      for (const id of ['b', 'a', 'c']) await store.createJoinToken(joinToken(id), admin);
      await store.createJoinToken(joinToken('old', 'alpha.api', T0 + 1), admin);
      const first = await store.listJoinTokens('alpha.api', { limit: 2, now: T0 + 1 });
      assert.deepEqual(
        first.map((t) => t.id),
        ['a', 'b'],
      );
      const rest = await store.listJoinTokens('alpha.api', { limit: 2, now: T0 + 1, after: { createdAt: T0, id: 'b' } });
      assert.deepEqual(
        rest.map((t) => t.id),
        ['c'],
      );
      await assert.rejects(store.deleteJoinToken('alpha.web', 'a', admin), NotFoundError);
      await store.deleteJoinToken('alpha.api', 'a', admin);
      await assert.rejects(store.deleteJoinToken('alpha.api', 'a', admin), NotFoundError);
      assert.equal(await store.consumeJoinToken('a', 'HASH-OF-a', T0), null);
      const [event] = await store.queryAudit({ type: 'join-token.delete', limit: 5 });
      assert.deepEqual(event?.before, { id: 'a', principal: 'alpha.api', expiresAt: T0 + 10 * MINUTE });
    });
  });
}

// Review findings on the registry change feed (storage/sql/changes.ts) and its cache
// (storage/registry-cache.ts): each test states what the current database forbids and checks that
// a cache reading the feed does not allow it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/storage/open.ts';
import { sqlStatements } from '../../src/storage/drivers/statements.ts';
import { RegistryCache } from '../../src/storage/registry-cache.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const admin = { actor: 'test' };
const QUIET = { pollMs: 3_600_000, safetyPollMs: 3_600_000, maxStaleMs: 3_600_000 };
const HOUR = 3_600_000;

describe('registry feed review: SQLite', () => {
  let dir = '';
  const stores: SqlStore[] = [];
  const caches: RegistryCache[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-feed-review-'));
  });
  after(async () => {
    for (const cache of caches) await cache.close();
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a change written by an instance whose clock is behind is not skipped when another instance prunes the feed', async () => {
    const path = join(dir, 'skew.sqlite');
    const store = await openStore({ kind: 'sqlite', path });
    stores.push(store);
    await store.createDomain({ name: 'alpha' }, admin);
    await store.createService({ domain: 'alpha', name: 's0' }, { secret: { id: 'sec0', hash: 'hash0' } }, admin);
    const cache = new RegistryCache(store, QUIET);
    caches.push(cache);
    await cache.start();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');

    const other = await openStore({ kind: 'sqlite', path });
    // An instance whose wall clock is two hours behind (feed rows carry the writer's clock).
    const behind = await openStore({ kind: 'sqlite', path }, { now: () => Date.now() - 2 * HOUR });
    stores.push(other, behind);
    await other.createDomain({ name: 'gamma' }, admin);
    await behind.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    await other.createDomain({ name: 'delta' }, admin);
    // What every instance's cache does each minute (keepChangesMs: one hour).
    await other.pruneChanges(Date.now() - HOUR);

    await cache.sync();
    assert.equal((await store.getService('alpha.s0'))?.status, 'DISABLED', 'the database says disabled');
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED', 'the cache must not keep serving the service as active');
  });

  it('a first lookup costs the same statements whether or not the id names a client (timing), and an id asked again none', async () => {
    const store = await openStore({ kind: 'sqlite', path: join(dir, 'unknown.sqlite') });
    stores.push(store);
    await store.createDomain({ name: 'alpha' }, { actor: 'test' });
    await store.createService({ domain: 'alpha', name: 'known' }, { secret: { id: 's1', hash: 'A'.repeat(43) } }, { actor: 'test' });
    const cache = new RegistryCache(store, QUIET);
    caches.push(cache);
    await cache.start();
    const sent = async (): Promise<number> => (await sqlStatements.get()).values.find((v) => v.labels['backend'] === 'sqlite')?.value ?? 0;
    const cost = async (clientId: string): Promise<number> => {
      const before = await sent();
      await cache.getClientForAuth(clientId, Date.now());
      return (await sent()) - before;
    };
    const unknown = await cost('nobody');
    assert.equal(await cost('alpha.known'), unknown);
    assert.equal(await cost('nobody'), 0);
    assert.equal(await cost('alpha.known'), 0);
  });
});

describe('registry feed review: PostgreSQL', () => {
  let db: TestDatabase;
  const stores: SqlStore[] = [];
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await db.drop();
  });

  it('a 10,000-member role replacement does not hold up other registry changes for seconds', async () => {
    const store = await openStore({ kind: 'postgres', url: db.url });
    const other = await openStore({ kind: 'postgres', url: db.url });
    stores.push(store, other);
    await store.createDomain({ name: 'alpha' }, admin);
    await store.createDomain({ name: 'gamma' }, admin);
    await store.createService({ domain: 'alpha', name: 'victim' }, { secret: { id: 'v', hash: 'h' } }, admin);
    const members = (round: number) => Array.from({ length: 10_000 }, (_, i) => ({ principal: `r${round}.svc${i}`, expiresAt: null }));
    await store.putRole('gamma', 'big', members(0), admin);

    // A domain admin of gamma replaces its role's members; meanwhile a system admin disables another domain's service.
    let settled = false;
    const put = store.putRole('gamma', 'big', members(1), admin).finally(() => (settled = true));
    let waited = 0;
    for (let i = 0; !settled; i += 1) {
      const started = performance.now();
      const outcome = await other.updateService('alpha.victim', { status: i % 2 === 0 ? 'DISABLED' : 'ACTIVE' }, admin).catch((error: Error) => error);
      assert.ok(!(outcome instanceof Error), `disabling a service failed behind an unrelated role replacement: ${String(outcome)}`);
      waited = Math.max(waited, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await put;
    assert.ok(waited < 1000, `disabling a service waited ${Math.round(waited)} ms behind an unrelated role replacement`);
  });

  it('replacing a key while the same service is changed elsewhere never fails either change', async () => {
    // dateKeyRemovalAgain (storage/sql/credentials.ts) takes the change counter, then the service row;
    // every other change of a service takes the service row, then the counter (audit).
    const one = await openStore({ kind: 'postgres', url: db.url });
    const two = await openStore({ kind: 'postgres', url: db.url });
    stores.push(one, two);
    await one.createDomain({ name: 'kappa' }, admin);
    await one.createService({ domain: 'kappa', name: 'api' }, { secret: { id: 's0', hash: 'h0' } }, admin);
    const failures: string[] = [];
    const note = (what: string) => (error: Error) => {
      failures.push(`${what}: ${error.message}`);
    };
    const deadline = Date.now() + 8000;
    await Promise.all([
      (async () => {
        for (let i = 0; Date.now() < deadline && failures.length === 0; i += 1) {
          await one.putPublicKey('kappa.api', 'k', `pem-${i}`, admin).catch(note('key replacement'));
        }
      })(),
      (async () => {
        for (let i = 0; Date.now() < deadline && failures.length === 0; i += 1) {
          await two.updateService('kappa.api', { description: `d${i}` }, admin).catch(note('service update'));
        }
      })(),
    ]);
    assert.deepEqual(failures, []);
  });
});

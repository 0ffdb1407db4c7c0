// The registry cache over a real SQLite store: a load that overlaps an eviction is not kept,
// its bounds hold, and a reader that fell behind the pruned feed starts over. The change feed
// itself: each audit type maps to what it changed, and rows are numbered without gaps.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/storage/open.ts';
import { RegistryCache } from '../../src/storage/registry-cache.ts';
import type { SqlStore } from '../../src/storage/sql-store.ts';
import { changesOfAudit } from '../../src/storage/sql/changes.ts';

const admin = { actor: 'test' };
/** Reads of the feed only when a test asks (sync), never on a timer. */
const QUIET = { pollMs: 3_600_000, safetyPollMs: 3_600_000, maxStaleMs: 3_600_000 };

describe('the registry cache', () => {
  let dir = '';
  let opened = 0;
  const stores: SqlStore[] = [];
  const caches: RegistryCache[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-registry-cache-'));
  });
  after(async () => {
    for (const cache of caches) await cache.close();
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh database with domains alpha and beta, services alpha.s0 … alpha.s<count-1>, each a member of beta:readers. */
  async function setup(count = 1): Promise<{ path: string; store: SqlStore }> {
    const path = join(dir, `cache-${++opened}.sqlite`);
    const store = await openStore({ kind: 'sqlite', path });
    stores.push(store);
    await store.createDomain({ name: 'alpha' }, admin);
    await store.createDomain({ name: 'beta' }, admin);
    const members = [];
    for (let i = 0; i < count; i += 1) {
      await store.createService({ domain: 'alpha', name: `s${i}` }, { secret: { id: `sec${i}`, hash: `hash${i}` } }, admin);
      members.push({ principal: `alpha.s${i}`, expiresAt: null });
    }
    await store.putRole('beta', 'readers', members, admin);
    return { path, store };
  }

  /** Another process's store on the same file. */
  async function peer(path: string): Promise<SqlStore> {
    const store = await openStore({ kind: 'sqlite', path });
    stores.push(store);
    return store;
  }

  /** The store's next load waits, after reading, until the returned function is called. */
  function slowFirstLoad(store: SqlStore): () => void {
    const load = store.loadRegistryRecord.bind(store);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let slow = true;
    store.loadRegistryRecord = async (by, value) => {
      const record = await load(by, value);
      if (slow) {
        slow = false;
        await gate;
      }
      return record;
    };
    return () => release();
  }

  async function cacheOf(store: SqlStore, options: ConstructorParameters<typeof RegistryCache>[1] = {}): Promise<RegistryCache> {
    const cache = new RegistryCache(store, { ...QUIET, ...options });
    caches.push(cache);
    await cache.start();
    return cache;
  }

  it('does not keep a load that a change of the same instance overlapped', async () => {
    const { store } = await setup();
    const cache = await cacheOf(store);
    // The load waits, after reading, until the change has committed.
    const release = slowFirstLoad(store);
    const pending = cache.getClientForAuth('alpha.s0', Date.now());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    release();
    assert.equal((await pending)?.service.status, 'ACTIVE', 'the overlapping load answers its own request');
    assert.equal((await cache.getClientForAuth('alpha.s0', Date.now()))?.service.status, 'DISABLED', 'but was not kept');
  });

  it('does not keep a load that a change read from the feed overlapped', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    const release = slowFirstLoad(store);
    const pending = cache.rolesHeld('alpha.s0', ['beta'], Date.now());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await other.deleteRoleMember('beta', 'readers', 'alpha.s0', admin);
    await cache.sync();
    release();
    assert.equal((await pending).length, 1);
    assert.deepEqual(await cache.rolesHeld('alpha.s0', ['beta'], Date.now()), []);
  });

  it("serves from memory once loaded, and sees another process's change at its next feed read", async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE', 'not read again before the feed says so');
    await cache.sync();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED');
  });

  it("leaves to the feed a change of its own whose transaction failed: its number goes to the next change, maybe another process's", async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    const before = await store.changeCounter();
    // The service's change is recorded, then the second key under the same kid fails the transaction.
    const keys = [
      { kid: 'k', pem: 'A' },
      { kid: 'k', pem: 'B' },
    ];
    await assert.rejects(store.createService({ domain: 'alpha', name: 'failed' }, { publicKeys: keys }, admin));
    assert.equal(await store.changeCounter(), before, 'the number was rolled back');
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    await cache.sync();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED');
  });

  it('holds at most maxClients clients, and unknown client ids apart from them', async () => {
    const { store } = await setup(5);
    const cache = await cacheOf(store, { maxClients: 3, maxUnknown: 2 });
    for (let i = 0; i < 5; i += 1) assert.ok(await cache.getClientForAuth(`alpha.s${i}`, Date.now()));
    assert.equal(cache.size, 3);
    for (let i = 0; i < 100; i += 1) assert.equal(await cache.getClientForAuth(`nobody-${i}`, Date.now()), null);
    assert.equal(cache.size, 3, 'random client ids evict no client');
    // The youngest stay: reading them again sends no load.
    const load = store.loadRegistryRecord.bind(store);
    let loads = 0;
    store.loadRegistryRecord = (by, value) => ((loads += 1), load(by, value));
    for (const i of [2, 3, 4]) assert.ok(await cache.getClientForAuth(`alpha.s${i}`, Date.now()));
    assert.equal(loads, 0);
    assert.ok(await cache.getClientForAuth('alpha.s0', Date.now()));
    assert.equal(loads, 1);
  });

  it('evicts the client read least recently, however often the newest was read in a row', async () => {
    const { store } = await setup(4);
    const cache = await cacheOf(store, { maxClients: 3 });
    const now = Date.now();
    for (const i of [0, 1, 2]) assert.ok(await cache.getClientForAuth(`alpha.s${i}`, now));
    // s0 read again (twice, and its roles, as a token request does): s1 is now the oldest, then s2.
    assert.ok(await cache.getClientForAuth('alpha.s0', now));
    assert.ok(await cache.getClientForAuth('alpha.s0', now));
    assert.equal((await cache.rolesHeld('alpha.s0', ['beta'], now)).length, 1);
    // s2 read after s0, then s0 once more: the order is s1, s2, s0.
    assert.ok(await cache.getClientForAuth('alpha.s2', now));
    assert.ok(await cache.getClientForAuth('alpha.s0', now));
    const load = store.loadRegistryRecord.bind(store);
    const loaded: string[] = [];
    store.loadRegistryRecord = (by, value) => (loaded.push(value), load(by, value));
    assert.ok(await cache.getClientForAuth('alpha.s3', now));
    assert.deepEqual(loaded, ['alpha.s3'], 'one load: the new client');
    for (const i of [0, 2, 3]) assert.ok(await cache.getClientForAuth(`alpha.s${i}`, now));
    assert.deepEqual(loaded, ['alpha.s3'], 's0, s2 and s3 stay');
    assert.ok(await cache.getClientForAuth('alpha.s1', now));
    assert.deepEqual(loaded, ['alpha.s3', 'alpha.s1'], 's1 was the one evicted');
  });

  it('forgets an unknown client id once a service is created', async () => {
    const { store } = await setup();
    const cache = await cacheOf(store);
    assert.equal(await cache.getClientForAuth('alpha.new', Date.now()), null);
    await store.createService({ domain: 'alpha', name: 'new' }, { secret: { id: 'n', hash: 'h' } }, admin);
    assert.equal((await cache.getClientForAuth('alpha.new', Date.now()))?.service.principal, 'alpha.new');
  });

  it('filters secrets and memberships by the time asked for', async () => {
    const { store } = await setup();
    const cache = await cacheOf(store);
    const now = Date.now();
    await store.addClientSecret('alpha.s0', { id: 'sec-new', hash: 'hash-new' }, now + 60_000, admin);
    await store.putRole('beta', 'writers', [{ principal: 'alpha.s0', expiresAt: now + 60_000 }], admin);
    assert.deepEqual(
      (await cache.getClientForAuth('alpha.s0', now))?.secrets.map((s) => s.id),
      ['sec-new', 'sec0'],
    );
    assert.deepEqual(
      (await cache.getClientForAuth('alpha.s0', now + 60_000))?.secrets.map((s) => s.id),
      ['sec-new'],
    );
    assert.deepEqual(await cache.getClientForAuth('alpha.s0', now), await store.getClientForAuth('alpha.s0', now));
    assert.deepEqual(await cache.rolesHeld('alpha.s0', ['beta'], now), await store.rolesHeld('alpha.s0', ['beta'], now));
    assert.deepEqual(
      (await cache.rolesHeld('alpha.s0', ['beta'], now + 60_000)).map((r) => r.role),
      ['readers'],
    );
  });

  it('starts over when the feed rows it had not read were pruned', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    await other.updateService('alpha.s0', { description: 'later' }, admin);
    assert.ok((await other.pruneChanges(Date.now() + 1)) >= 2);
    await other.createDomain({ name: 'gamma' }, admin);
    await cache.sync();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED');
  });

  it('starts over when a feed row in the middle of those it had not read is missing', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    await other.createDomain({ name: 'gamma' }, admin);
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    const missing = await other.changeCounter();
    await other.createDomain({ name: 'delta' }, admin);
    const raw = new DatabaseSync(path);
    try {
      assert.equal(raw.prepare('DELETE FROM registry_changes WHERE seq = ?').run(missing).changes, 1);
    } finally {
      raw.close();
    }
    await cache.sync();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED');
  });

  it('knows the revoked tokens at start, and those revoked later by another process', async () => {
    const { path, store } = await setup();
    const now = Date.now();
    await store.revokeToken({ jti: 'early', principal: 'alpha.s0', expiresAt: now + 60_000 }, admin);
    const cache = await cacheOf(store);
    assert.equal(await cache.isTokenRevoked('early', now), true);
    assert.equal(await cache.isTokenRevoked('early', now + 60_000), false, 'not after it expired');
    const other = await peer(path);
    await other.revokeToken({ jti: 'late', principal: 'alpha.s0', expiresAt: now + 60_000 }, admin);
    assert.equal(await cache.isTokenRevoked('late', now), false);
    await cache.sync();
    assert.equal(await cache.isTokenRevoked('late', now), true);
    await store.revokeToken({ jti: 'own', principal: 'alpha.s0', expiresAt: now + 60_000 }, admin);
    assert.equal(await cache.isTokenRevoked('own', now), true, "this instance's own revocation at once");
  });

  it('holds no revoked tokens when maxRevoked is 0: each question goes to the database', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store, { maxRevoked: 0 });
    const now = Date.now();
    const other = await peer(path);
    await other.revokeToken({ jti: 'elsewhere', principal: 'alpha.s0', expiresAt: now + 60_000 }, admin);
    assert.equal(await cache.isTokenRevoked('elsewhere', now), true, 'known before any feed read');
    assert.equal(await cache.isTokenRevoked('never', now), false);
  });

  it('holds no revoked tokens while they are more than maxRevoked, and holds them again once they fit', async () => {
    const { path, store } = await setup();
    let clock = Date.now();
    const soon = clock + 10_000;
    for (const jti of ['a', 'b', 'c']) await store.revokeToken({ jti, principal: 'alpha.s0', expiresAt: soon }, admin);
    const cache = await cacheOf(store, { maxRevoked: 2, now: () => clock, pruneEveryMs: 30 });
    const other = await peer(path);
    await other.revokeToken({ jti: 'late', principal: 'alpha.s0', expiresAt: clock + 3_600_000 }, admin);
    assert.equal(await cache.isTokenRevoked('late', clock), true, 'three at start: none held, the database asked');
    clock = soon + 1;
    // The next prune reloads them: only 'late' is live.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await cache.sync();
    await other.revokeToken({ jti: 'later', principal: 'alpha.s0', expiresAt: clock + 3_600_000 }, admin);
    assert.equal(await cache.isTokenRevoked('late', clock), true);
    assert.equal(await cache.isTokenRevoked('later', clock), false, 'held again: the feed not read yet');
    await cache.sync();
    assert.equal(await cache.isTokenRevoked('later', clock), true);
    // Two held; a third, this instance's own, goes past the bound.
    await store.revokeToken({ jti: 'own', principal: 'alpha.s0', expiresAt: clock + 3_600_000 }, admin);
    await other.revokeToken({ jti: 'unread', principal: 'alpha.s0', expiresAt: clock + 3_600_000 }, admin);
    assert.equal(await cache.isTokenRevoked('own', clock), true);
    assert.equal(await cache.isTokenRevoked('unread', clock), true, 'past the bound: the database asked');
  });

  it('reads the database again from a failed feed read until one succeeds', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store);
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    const counter = store.changeCounter.bind(store);
    store.changeCounter = () => Promise.reject(new Error('unreachable'));
    await assert.rejects(cache.sync(), /unreachable/);
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED', 'read from the database');
    store.changeCounter = counter;
    await other.updateService('alpha.s0', { status: 'ACTIVE' }, admin);
    await cache.sync();
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
  });

  it('reads the database again once the feed could not be read for maxStaleMs', async () => {
    const { path, store } = await setup();
    const cache = await cacheOf(store, { maxStaleMs: 50 });
    const other = await peer(path);
    assert.equal((await cache.getService('alpha.s0'))?.status, 'ACTIVE');
    await other.updateService('alpha.s0', { status: 'DISABLED' }, admin);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal((await cache.getService('alpha.s0'))?.status, 'DISABLED');
  });
});

describe('the registry change feed', () => {
  it('maps each change to the service, member, domain or token it concerns', () => {
    const of = (type: string, target: string, before: unknown = null, after: unknown = null): string[] =>
      changesOfAudit({ type, target, before, after }).map((c) => `${c.scope}:${c.key}`);
    const ofService = ['service.create', 'service.update', 'service.delete', 'client-secret.add', 'public-key.put', 'public-key.delete'];
    ofService.push('api-key.create', 'api-key.revoke', 'certificate.revoke', 'certificate.revoke-all');
    for (const type of ofService) {
      assert.deepEqual(of(type, 'alpha.api'), ['service:alpha.api'], type);
    }
    assert.deepEqual(of('role-member.put', 'beta:role.r', null, { principal: 'alpha.api', expiresAt: null }), ['member:alpha.api']);
    assert.deepEqual(of('role-member.delete', 'beta:role.r', { principal: 'alpha.api', expiresAt: null }), ['member:alpha.api']);
    assert.deepEqual(of('role.delete', 'beta:role.r'), ['domain:beta']);
    assert.deepEqual(of('domain.update', 'beta'), ['domain:beta']);
    assert.deepEqual(of('token.revoke', 'alpha.api', null, { jti: 'j1', expiresAt: 1 }), ['token:j1']);
    assert.deepEqual(of('session.revoke', 'alpha.api', null, { jti: 'j2', expiresAt: 1 }), ['token:j2']);
    const diff = { added: [{ principal: 'd', expiresAt: null }], addedCount: 1, removed: ['c'], removedCount: 1 };
    const changed = { expiryChanged: [{ principal: 'b', expiresAt: 6, previousExpiresAt: 5 }], expiryChangedCount: 1 };
    assert.deepEqual(
      of('role.put', 'beta:role.r', { tokenMaxLifetime: null, memberCount: 3 }, { tokenMaxLifetime: null, memberCount: 3, ...diff, ...changed }),
      ['member:d', 'member:c', 'member:b'],
      'the members changed, not the others',
    );
    assert.deepEqual(of('role.put', 'beta:role.r', { tokenMaxLifetime: null }, { tokenMaxLifetime: 300 }), ['domain:beta'], 'a new lifetime limit');
    assert.deepEqual(of('role.put', 'beta:role.r', { actors: [] }, { actors: ['gw.edge'] }), ['domain:beta'], 'new actors');
    assert.deepEqual(of('role.put', 'beta:role.r', { impersonators: ['gw.edge'] }, { impersonators: [] }), ['domain:beta'], 'impersonators removed');
    assert.deepEqual(of('role.put', 'beta:role.r', { actors: ['gw.edge'] }, { actors: ['gw.edge'] }), [], 'the same actors');
    assert.deepEqual(of('role.put', 'beta:role.r', { idTokenSubjects: false }, { idTokenSubjects: true }), ['domain:beta'], 'ID-token subjects allowed');
    assert.deepEqual(of('role.put', 'beta:role.r', { idTokenSubjects: true }, { idTokenSubjects: true }), [], 'the same setting');
    assert.throws(() => of('role.put', 'beta:role.r', null, { ...diff, addedCount: 101 }), /names only some members/, 'a capped audit is no feed');
    const many = { created: 101, updated: 0, members: [{ principal: 'd', expiresAt: null }] };
    assert.throws(() => of('role-member.put-many', 'beta:role.r', null, many), /names only some members/);
    assert.deepEqual(of('join-token.use', 'alpha.api'), []);
    assert.throws(() => of('service.rename', 'alpha.api'), /no registry change mapping/);
  });

  it('has a mapping for every audit type the store writes', () => {
    const dir = new URL('../../src/storage/sql/', import.meta.url);
    const types = new Set<string>();
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
      for (const [, type] of readFileSync(new URL(file, dir), 'utf8').matchAll(/'((?:[a-z]+-)*[a-z]+\.[a-z]+(?:-[a-z]+)*)'/g)) {
        if (!/^(changes|registry|rows|context)\./.test(type!) && !type!.endsWith('.ts')) types.add(type!);
      }
    }
    assert.ok(types.has('service.update') && types.has('signing-key.retire') && types.has('ca.activate'), [...types].join(' '));
    for (const type of types) {
      const event = { type, target: 'beta:role.r', before: { principal: 'p', members: [] }, after: { principal: 'p', jti: 'j', members: [] } };
      assert.doesNotThrow(() => changesOfAudit(event), type);
    }
  });

  it("prunes only the oldest rows: one whose writer's clock lags stays while a row before it is younger", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-feed-'));
    const path = join(dir, 'feed.sqlite');
    const store = await openStore({ kind: 'sqlite', path });
    const behind = await openStore({ kind: 'sqlite', path }, { now: () => Date.now() - 2 * 3_600_000 });
    try {
      await behind.createDomain({ name: 'old' }, admin);
      const start = await store.changeCounter();
      await store.createDomain({ name: 'alpha' }, admin);
      await behind.createDomain({ name: 'lagging' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      assert.equal(await store.pruneChanges(Date.now() - 3_600_000), 1, 'only the row before every younger one');
      assert.deepEqual(
        (await store.readChanges(0, 100)).map((row) => row.seq),
        [start + 1, start + 2, start + 3],
      );
      assert.equal(await store.pruneChanges(Date.now() + 1), 3, 'all of them once all are old');
    } finally {
      await behind.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('numbers changes without gaps, a failed change taking no number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-feed-'));
    const store = await openStore({ kind: 'sqlite', path: join(dir, 'feed.sqlite') });
    try {
      const start = await store.changeCounter();
      await store.createDomain({ name: 'alpha' }, admin);
      await assert.rejects(store.createDomain({ name: 'alpha' }, admin));
      await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 's', hash: 'h' }, publicKeys: [{ kid: 'k', pem: 'P' }] }, admin);
      const rows = await store.readChanges(start, 100);
      assert.deepEqual(
        rows.map((row) => row.seq),
        [start + 1, start + 2],
      );
      assert.deepEqual(
        rows.map((row) => `${row.scope}:${row.key}`),
        ['domain:alpha', 'service:alpha.api'],
        'one row per scope and key in a transaction',
      );
      assert.equal(await store.changeCounter(), start + 2);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

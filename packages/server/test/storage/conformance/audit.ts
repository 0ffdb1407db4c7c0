import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, signingKey, storeTest } from './harness.ts';

export function auditLog(harness: StoreHarness): void {
  describe('audit log', () => {
    storeTest(harness, 'records every change with its actor, type, target, before and after', async (store) => {
      const other = { actor: 'alpha.admin' };
      await store.createDomain({ name: 'alpha' }, admin);
      const service = await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 'sec-1', hash: 'h1' } }, admin);
      const updated = await store.updateService('alpha.api', { status: 'DISABLED' }, other);
      await store.addClientSecret('alpha.api', { id: 'sec-2', hash: 'h2' }, Date.now() + 1000, other);
      await store.putPublicKey('alpha.api', 'k1', 'PEM', other);
      await store.deletePublicKey('alpha.api', 'k1', other);
      await store.putRole('alpha', 'readers', [{ principal: 'alpha.api', expiresAt: null }], other);
      await store.putRoleMember('alpha', 'readers', { principal: 'beta.web', expiresAt: null }, other);
      await store.deleteRoleMember('alpha', 'readers', 'beta.web', other);
      await store.deleteService('alpha.api', other);
      await store.deleteRole('alpha', 'readers', other);
      await store.deleteDomain('alpha', admin);

      const events = (await store.queryAudit({ limit: 100 })).reverse();
      assert.deepEqual(
        events.map(({ actor, type, target }) => `${actor} ${type} ${target}`),
        [
          'sys.auth.admin domain.create alpha',
          'sys.auth.admin service.create alpha.api',
          'sys.auth.admin client-secret.add alpha.api',
          'alpha.admin service.update alpha.api',
          'alpha.admin client-secret.add alpha.api',
          'alpha.admin public-key.put alpha.api',
          'alpha.admin public-key.delete alpha.api',
          'alpha.admin role.put alpha:role.readers',
          'alpha.admin role-member.put alpha:role.readers',
          'alpha.admin role-member.delete alpha:role.readers',
          'alpha.admin service.delete alpha.api',
          'alpha.admin role-member.delete alpha:role.readers',
          'alpha.admin role.delete alpha:role.readers',
          'sys.auth.admin domain.delete alpha',
        ],
      );
      const update = events.find((event) => event.type === 'service.update');
      assert.deepEqual(update?.before, service);
      assert.deepEqual(update?.after, updated);
      assert.deepEqual(events.find((event) => event.type === 'role-member.put')?.after, { principal: 'beta.web', expiresAt: null });
      assert.ok(events.every((event) => event.id > 0 && event.at > 0));
    });

    storeTest(harness, 'never records a secret hash or a private key', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 'sec-1', hash: 'HASH-ONE' } }, admin);
      await store.addClientSecret('alpha.api', { id: 'sec-2', hash: 'HASH-TWO' }, Date.now() + 1000, admin);
      await store.addClientSecret('alpha.api', { id: 'sec-3', hash: 'HASH-THREE' }, Date.now() + 1000, admin);
      await store.deleteService('alpha.api', admin);
      await store.insertSigningKey(signingKey('kid-1', 'active'));
      await store.transitionSigningKey('kid-1', 'active', 'retired', { retiredAt: 1, removeAt: 2 });
      await store.removeSigningKey('kid-1');
      await store.initCa({ id: 'ca-1', state: 'active', chainPem: 'CHAIN', rootPem: 'ROOT', sealedPrivateKey: 'SEALED-CA-KEY', createdAt: 1 });
      await store.createService({ domain: 'alpha', name: 'web' }, {}, admin);
      await store.createApiKey({ id: 'key-1', principal: 'alpha.web', audience: 'alpha', hash: 'API-KEY-HASH', description: null, expiresAt: null }, admin);
      await store.revokeApiKey('alpha.web', 'key-1', admin);
      await store.deleteService('alpha.web', admin);

      const log = JSON.stringify(await store.queryAudit({ limit: 100 }));
      for (const secret of ['HASH-ONE', 'HASH-TWO', 'HASH-THREE', 'sealed-private-key-of-kid-1', 'SEALED-CA-KEY', 'API-KEY-HASH']) {
        assert.ok(!log.includes(secret), `audit log contains ${secret}`);
      }
      assert.ok(log.includes('sec-2') && log.includes('sec-3'));
    });

    storeTest(harness, 'leaves no audit event for a change that failed', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const before = await store.queryAudit({ limit: 100 });
      // The service row and its audit event are written before the second key fails.
      const duplicateKids = [
        { kid: 'k1', pem: 'PEM-1' },
        { kid: 'k1', pem: 'PEM-2' },
      ];
      await assert.rejects(store.createService({ domain: 'alpha', name: 'api' }, { publicKeys: duplicateKids }, admin), ConflictError);
      assert.equal(await store.getService('alpha.api'), null);
      assert.deepEqual(await store.queryAudit({ limit: 100 }), before);
    });

    storeTest(harness, 'appends a batch of events, in order, across several INSERTs', async (store) => {
      const events = Array.from({ length: 250 }, (_, i) => ({
        at: 1000 + i,
        actor: `alpha.client${i % 7}`,
        type: 'token.issue',
        target: 'alpha',
        before: null,
        after: { n: i, scope: ['alpha:role.readers'] },
      }));
      await store.appendAuditBatch(events);
      const stored = (await store.queryAudit({ limit: 1000 })).reverse();
      assert.deepEqual(
        stored.map(({ id: _id, ...event }) => event),
        events,
      );
      assert.ok(stored.every((event, i) => i === 0 || event.id > stored[i - 1]!.id));
    });

    storeTest(harness, 'writes a batch in one transaction: all of it or none', async (store) => {
      const good = (at: number) => ({ at, actor: 'system', type: 'token.issue', target: 'alpha', before: null, after: null });
      const events = Array.from({ length: 230 }, (_, i) => good(1000 + i));
      // The last chunk fails after the first two were written.
      events[220] = { ...good(0), at: Number.NaN };
      await assert.rejects(store.appendAuditBatch(events));
      assert.deepEqual(await store.queryAudit({ limit: 1000 }), []);
      await store.appendAuditBatch([]);
      assert.deepEqual(await store.queryAudit({ limit: 1000 }), []);
    });

    storeTest(harness, 'filters by principal, type and time, newest first, up to the limit', async (store) => {
      const events = [
        { at: 1000, actor: 'alpha.admin', type: 'service.update', target: 'alpha.api' },
        { at: 2000, actor: 'sys.auth.admin', type: 'service.update', target: 'alpha.admin' },
        { at: 3000, actor: 'sys.auth.admin', type: 'domain.create', target: 'beta' },
        { at: 4000, actor: 'system', type: 'signing-key.rotate', target: 'kid-9' },
      ];
      for (const event of events) await store.appendAudit({ ...event, before: null, after: { note: event.at } });

      const types = async (query: Parameters<typeof store.queryAudit>[0]) => (await store.queryAudit(query)).map((event) => event.at);
      assert.deepEqual(await types({ limit: 10 }), [4000, 3000, 2000, 1000]);
      assert.deepEqual(await types({ limit: 2 }), [4000, 3000]);
      assert.deepEqual(await types({ principal: 'alpha.admin', limit: 10 }), [2000, 1000]);
      assert.deepEqual(await types({ type: 'service.update', limit: 10 }), [2000, 1000]);
      assert.deepEqual(await types({ since: 2000, limit: 10 }), [4000, 3000, 2000]);
      assert.deepEqual(await types({ principal: 'sys.auth.admin', type: 'domain.create', since: 1000, limit: 10 }), [3000]);
      const [latest] = await store.queryAudit({ limit: 1 });
      assert.deepEqual(latest?.after, { note: 4000 });
    });

    storeTest(harness, 'finds events by principal or target, whether the event names it as actor, as target or as both', async (store) => {
      const at = Date.now();
      await store.appendAuditBatch([
        { at, actor: 'alpha.api', type: 'token.issued', target: 'alpha.api', before: null, after: null },
        { at: at + 1, actor: 'alpha.gateway', type: 'token.issued', target: 'alpha.user', before: null, after: null },
        { at: at + 2, actor: 'alpha.admin', type: 'service.update', target: 'alpha.api', before: null, after: null },
        { at: at + 3, actor: 'alpha.api', type: 'token.refused', target: 'alpha.api', before: null, after: null },
      ]);
      const found = async (query: { principal?: string; target?: string }): Promise<string[]> =>
        (await store.queryAudit({ ...query, limit: 100 })).map((event) => `${event.type} ${event.actor}>${event.target}`);
      const self = ['token.refused alpha.api>alpha.api', 'service.update alpha.admin>alpha.api', 'token.issued alpha.api>alpha.api'];
      assert.deepEqual(await found({ principal: 'alpha.api' }), self);
      assert.deepEqual(await found({ target: 'alpha.api' }), self);
      assert.deepEqual(await found({ principal: 'alpha.gateway' }), ['token.issued alpha.gateway>alpha.user']);
      assert.deepEqual(await found({ target: 'alpha.gateway' }), [], 'an actor is not a target');
      assert.deepEqual(await found({ principal: 'alpha.user' }), ['token.issued alpha.gateway>alpha.user']);
      assert.deepEqual(await found({ target: 'alpha.user' }), ['token.issued alpha.gateway>alpha.user']);
      assert.deepEqual(await found({ principal: 'alpha.admin' }), ['service.update alpha.admin>alpha.api']);
      assert.deepEqual(await found({ principal: 'alpha.admin', target: 'alpha.api' }), ['service.update alpha.admin>alpha.api']);
      assert.deepEqual(await found({ principal: 'alpha.user', target: 'alpha.api' }), []);
    });

    // A token request's event names its client as both actor and target and no domain: the
    // indexes on target and domain hold only the events that need them (a row written per token
    // costs the database one entry fewer in each).
    storeTest(harness, "keeps token requests' events out of the indexes on target and domain", async (_store, driver) => {
      const definitions = new Map<string, string>();
      if (driver.dialect === 'sqlite') {
        const rows = await driver.all<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'");
        for (const row of rows) definitions.set(row.name, row.sql);
      } else {
        const rows = await driver.all<{ indexname: string; indexdef: string }>("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events'");
        for (const row of rows) definitions.set(row.indexname, row.indexdef);
      }
      assert.match(definitions.get('audit_events_by_target') ?? '', /\(target\) WHERE \(?target <> actor\)?$/);
      assert.match(definitions.get('audit_events_by_domain') ?? '', /\(domain, at, id\) WHERE \(?domain IS NOT NULL\)?$/);
    });

    storeTest(harness, 'finds events of one type through an index, not a scan of the table', async (_store, driver) => {
      const sql = 'SELECT * FROM audit_events WHERE type = ? ORDER BY at DESC, id DESC LIMIT ?';
      if (driver.dialect === 'sqlite') {
        const plan = await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, ['domain.create', 10]);
        assert.match(plan.map((row) => row.detail).join('; '), /USING INDEX audit_events_by_type/);
      } else {
        const found = await driver.all<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_events_by_type'");
        assert.match(found[0]?.indexdef ?? '', /\(type, at\)/);
      }
    });

    storeTest(harness, "reads a domain's timeline through an index, not a scan of the table", async (_store, driver) => {
      const sql = 'SELECT * FROM audit_events WHERE domain = ? ORDER BY at DESC, id DESC LIMIT ?';
      if (driver.dialect === 'sqlite') {
        const plan = await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, ['alpha', 10]);
        const detail = plan.map((row) => row.detail).join('; ');
        assert.match(detail, /USING INDEX audit_events_by_domain/);
        assert.doesNotMatch(detail, /TEMP B-TREE/, 'the index gives the order: no sort');
      } else {
        const found = await driver.all<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_events_by_domain'");
        assert.match(found[0]?.indexdef ?? '', /\(domain, at, id\) WHERE/);
      }
    });

    const event = (type: string, at: number) => ({ at, actor: 'system', type, target: 't', before: null, after: { at } });
    const remaining = async (store: { queryAudit: (q: { limit: number }) => Promise<{ type: string; at: number }[]> }) =>
      (await store.queryAudit({ limit: 10_000 })).map((e) => `${e.type}@${e.at}`).sort();

    storeTest(harness, 'prunes events of the given types older than the cut-off, oldest first, about the limit at a time', async (store) => {
      const events = [
        ...Array.from({ length: 30 }, (_, i) => event('token.issued', 1000 + i)),
        ...Array.from({ length: 5 }, (_, i) => event('token.refused', 1000 + i)),
        event('token.issued', 5000),
        event('domain.create', 1000),
      ];
      await store.appendAuditBatch(events);
      const selection = { types: ['token.issued', 'token.refused'] };
      assert.equal(await store.pruneAudit(selection, 2000, 10), 10, 'one batch: the ten oldest token.issued');
      assert.ok(!(await remaining(store)).includes('token.issued@1009'));
      assert.ok((await remaining(store)).includes('token.issued@1010'));
      let pruned = 10;
      for (let batch = 0; batch < 10; batch++) pruned += await store.pruneAudit(selection, 2000, 10);
      assert.equal(pruned, 35);
      assert.deepEqual(await remaining(store), ['domain.create@1000', 'token.issued@5000']);
      assert.equal(await store.pruneAudit(selection, 2000, 10), 0);
    });

    storeTest(harness, 'prunes every type but the given ones', async (store) => {
      await store.appendAuditBatch([event('domain.create', 1000), event('service.update', 1500), event('token.issued', 1000), event('role.put', 3000)]);
      assert.equal(await store.pruneAudit({ allBut: ['token.issued'] }, 2000, 100), 2);
      assert.deepEqual(await remaining(store), ['role.put@3000', 'token.issued@1000']);
    });

    peerTest(harness, 'two instances pruning at once delete every due event once, and nothing else', async (store, peer) => {
      const events = [...Array.from({ length: 400 }, (_, i) => event('token.issued', 1000 + i)), event('token.issued', 9000)];
      await store.appendAuditBatch(events);
      const prune = async (s: typeof store) => {
        let total = 0;
        for (;;) {
          const count = await s.pruneAudit({ types: ['token.issued'] }, 2000, 25);
          total += count;
          if (count === 0) return total;
        }
      };
      const [a, b] = await Promise.all([prune(store), prune(peer)]);
      assert.equal(a + b, 400);
      assert.deepEqual(await remaining(store), ['token.issued@9000']);
    });
    storeTest(harness, "files each change under the domain it is about, for the domain's timeline", async (store) => {
      const other = { actor: 'alpha.admin' };
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'alpha.sub' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 'sec-1', hash: 'h1' } }, admin);
      await store.createService({ domain: 'alpha.sub', name: 'api' }, { secret: { id: 'sec-2', hash: 'h2' } }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'alpha.sub.api', expiresAt: null }], other);
      await store.updateService('alpha.api', { status: 'DISABLED' }, other);
      await store.appendAuditBatch([
        { at: Date.now(), actor: 'alpha.api', type: 'token.issued', target: 'alpha.api', before: null, after: null },
        { at: Date.now(), actor: 'anonymous', type: 'token.refused.summary', target: '2001:db8::1', before: null, after: null },
      ]);
      const about = async (query: { domain: string; target?: string }): Promise<string[]> =>
        (await store.queryAudit({ ...query, limit: 100 })).map((event) => `${event.type} ${event.target}`).reverse();
      assert.deepEqual(await about({ domain: 'alpha' }), [
        'domain.create alpha',
        'service.create alpha.api',
        'client-secret.add alpha.api',
        'role.put alpha:role.readers',
        'service.update alpha.api',
      ]);
      assert.deepEqual(await about({ domain: 'alpha.sub' }), ['domain.create alpha.sub', 'service.create alpha.sub.api', 'client-secret.add alpha.sub.api']);
      assert.deepEqual(await about({ domain: 'alpha', target: 'alpha.api' }), [
        'service.create alpha.api',
        'client-secret.add alpha.api',
        'service.update alpha.api',
      ]);
      assert.deepEqual(await about({ domain: 'alpha', target: 'alpha:role.readers' }), ['role.put alpha:role.readers']);
      assert.deepEqual(await about({ domain: 'alpha', target: 'alpha.sub.api' }), [], "another domain's service is not in this timeline");
      assert.deepEqual(await about({ domain: '2001' }), []);
    });
  });
}

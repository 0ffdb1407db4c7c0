// Audit retention: each kind of event is pruned once it is older than its setting, in bounded
// batches, over a real (SQLite) store. The PostgreSQL side of pruning is in the store
// conformance suite (test/storage/conformance/audit.ts).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAuditRetention } from '../../src/guards/audit-retention.ts';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqlStore } from '../../src/storage/sql-store.ts';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;
const silent = { info: () => undefined, error: () => undefined };

describe('audit retention', () => {
  let dir = '';
  let opened = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-retention-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const openStore = async (): Promise<SqlStore> => {
    const driver = openSqliteDriver(join(dir, `audit-${++opened}.sqlite`));
    await migrate(driver);
    return new SqlStore(driver);
  };
  const at = (type: string, daysAgo: number) => ({ at: NOW - daysAgo * DAY, actor: 'system', type, target: 't', before: null, after: null });
  const caller = (daysAgo: number) => {
    const hour = Math.floor((NOW - daysAgo * DAY) / 3_600_000) * 3_600_000;
    return { domain: 'beta', principal: 'alpha.api', actor: '', roles: 'readers', hour, count: 1, firstAt: hour, lastAt: hour };
  };
  const rate = (daysAgo: number) => ({
    hour: Math.floor((NOW - daysAgo * DAY) / 3_600_000) * 3_600_000,
    endpoint: 'token' as const,
    outcome: 'issued',
    count: 1,
  });
  const left = async (store: SqlStore): Promise<string[]> =>
    (await store.queryAudit({ limit: 10_000 })).map((e) => `${e.type} ${Math.round((NOW - e.at) / DAY)}d`).sort();

  it('prunes each kind past its own retention: token events, summaries and alerts, admin events', async () => {
    const store = await openStore();
    try {
      await store.appendAuditBatch(
        [
          at('token.issued', 31),
          at('token.issued', 29),
          at('token.refused', 31),
          at('introspect.refused', 31),
          at('token.refused.summary', 91),
          at('token.refused.summary', 31),
          at('alert.auth-failures', 91),
          at('service.update', 401),
          at('service.update', 91),
          at('token.revoke', 91),
          at('signing-key.create', 401),
        ],
        [caller(91), caller(89)],
        [rate(92), rate(91), rate(89)],
      );
      const retention = createAuditRetention({
        store,
        retention: { tokenEvents: 30 * 86_400, summaries: 90 * 86_400, adminEvents: 400 * 86_400, callers: 90 * 86_400 },
        now: () => NOW,
        log: silent,
      });
      assert.deepEqual(await retention.prune(), { tokenEvents: 3, summaries: 2, adminEvents: 2, callers: 1, tokenRates: 2 });
      assert.deepEqual(await left(store), ['service.update 91d', 'token.issued 29d', 'token.refused.summary 31d', 'token.revoke 91d']);
      const series = await store.callerSeries({ domain: 'beta', since: 0 });
      assert.deepEqual(
        series.map((s) => Math.round((NOW - s.hour) / DAY)),
        [89],
        'the sums of 91 days ago went, those of 89 days ago stayed',
      );
      assert.deepEqual(
        (await store.tokenRates(0)).map((r) => Math.round((NOW - r.hour) / DAY)),
        [89],
        'token rates follow audit.retention.callers',
      );
    } finally {
      await store.close();
    }
  });

  it('keeps a kind whose retention is 0 forever', async () => {
    const store = await openStore();
    try {
      await store.appendAuditBatch([at('token.issued', 3000), at('service.update', 3000)], [caller(3000)], [rate(3000)]);
      const retention = createAuditRetention({
        store,
        retention: { tokenEvents: 86_400, summaries: 86_400, adminEvents: 0, callers: 0 },
        now: () => NOW,
        log: silent,
      });
      assert.deepEqual(await retention.prune(), { tokenEvents: 1, summaries: 0 });
      assert.deepEqual(await left(store), ['service.update 3000d']);
      assert.equal((await store.callerSeries({ domain: 'beta', since: 0 })).length, 1, 'callers with retention 0 are kept');
      assert.equal((await store.tokenRates(0)).length, 1, 'token rates with callers retention 0 are kept');
    } finally {
      await store.close();
    }
  });

  it('deletes at most maxBatchesPerRun batches per run; the next run carries on', async () => {
    const store = await openStore();
    try {
      await store.appendAuditBatch(Array.from({ length: 95 }, (_, i) => ({ ...at('token.issued', 40), at: NOW - 40 * DAY + i })));
      const retention = createAuditRetention({
        store,
        retention: { tokenEvents: 86_400, summaries: 86_400, adminEvents: 86_400, callers: 86_400 },
        now: () => NOW,
        log: silent,
        batchSize: 10,
        maxBatchesPerRun: 3,
      });
      assert.equal((await retention.prune())['tokenEvents'], 30);
      assert.equal((await store.queryAudit({ limit: 1000 })).length, 65);
      let runs = 1;
      while ((await store.queryAudit({ limit: 1 })).length > 0) {
        await retention.prune();
        runs += 1;
      }
      assert.equal(runs, 4);
    } finally {
      await store.close();
    }
  });
});

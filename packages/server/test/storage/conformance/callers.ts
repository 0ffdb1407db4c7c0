import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { CallerCount } from '../../../src/storage/records.ts';
import type { StoreHarness } from './harness.ts';
import { peerTest, storeTest } from './harness.ts';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);

function count(principal: string, hour: number, n: number, extra: Partial<CallerCount> = {}): CallerCount {
  return {
    domain: 'beta',
    principal,
    actor: '',
    roles: 'readers',
    hour: T0 + hour * HOUR,
    count: n,
    firstAt: T0 + hour * HOUR + 10,
    lastAt: T0 + hour * HOUR + 20,
    ...extra,
  };
}

export function callers(harness: StoreHarness): void {
  describe('who calls whom (token callers)', () => {
    storeTest(harness, 'adds counts to the same hour, keeps first and last, and sums hours per principal, actor and roles', async (store) => {
      await store.appendAuditBatch([], [count('alpha.api', 0, 2), count('alpha.web', 0, 1)]);
      await store.appendAuditBatch([], [count('alpha.api', 0, 3, { firstAt: T0 + 5, lastAt: T0 + 15 }), count('alpha.api', 1, 4)]);
      await store.appendAuditBatch([], [count('alpha.api', 1, 1, { actor: 'gw.edge' }), count('alpha.api', 1, 1, { roles: 'readers writers' })]);
      await store.appendAuditBatch([], [count('alpha.api', 0, 7, { domain: 'gamma' })]);
      const all = await store.listCallers({ domain: 'beta', since: 0, limit: 10 });
      assert.deepEqual(all, [
        { principal: 'alpha.api', actor: '', roles: 'readers', count: 9, firstAt: T0 + 5, lastAt: T0 + HOUR + 20 },
        { principal: 'alpha.api', actor: '', roles: 'readers writers', count: 1, firstAt: T0 + HOUR + 10, lastAt: T0 + HOUR + 20 },
        { principal: 'alpha.api', actor: 'gw.edge', roles: 'readers', count: 1, firstAt: T0 + HOUR + 10, lastAt: T0 + HOUR + 20 },
        { principal: 'alpha.web', actor: '', roles: 'readers', count: 1, firstAt: T0 + 10, lastAt: T0 + 20 },
      ]);
      assert.deepEqual(await store.callerSeries({ domain: 'beta', since: 0 }), [
        { hour: T0, count: 6 },
        { hour: T0 + HOUR, count: 6 },
      ]);
      assert.deepEqual(await store.callerSeries({ domain: 'beta', since: 0, principal: 'alpha.web' }), [{ hour: T0, count: 1 }]);
      assert.deepEqual(await store.callerSeries({ domain: 'beta', since: T0 + HOUR }), [{ hour: T0 + HOUR, count: 6 }]);
      const since = await store.listCallers({ domain: 'beta', since: T0 + HOUR, limit: 10 });
      assert.deepEqual(
        since.map((c) => `${c.principal}/${c.actor}/${c.roles}=${c.count}`),
        ['alpha.api//readers=4', 'alpha.api//readers writers=1', 'alpha.api/gw.edge/readers=1'],
      );
    });

    storeTest(harness, 'pages through callers in key order, each page after the last key of the one before', async (store) => {
      await store.appendAuditBatch(
        [],
        ['a.x', 'b.x', 'c.x'].flatMap((principal) => [count(principal, 0, 1), count(principal, 0, 1, { actor: 'gw.edge' })]),
      );
      const seen: string[] = [];
      let after: readonly [string, string, string] | undefined;
      for (;;) {
        const page = await store.listCallers({ domain: 'beta', since: 0, limit: 4, ...(after && { after }) });
        seen.push(...page.slice(0, 3).map((c) => `${c.principal}/${c.actor}`));
        if (page.length <= 3) break;
        const last = page[2]!;
        after = [last.principal, last.actor, last.roles];
      }
      assert.deepEqual(seen, ['a.x/', 'a.x/gw.edge', 'b.x/', 'b.x/gw.edge', 'c.x/', 'c.x/gw.edge']);
    });

    storeTest(harness, 'writes the counts with the batch or not at all', async (store) => {
      const bad = { at: Number.NaN, actor: 'x', type: 'token.issued', target: 'x', before: null, after: null };
      await assert.rejects(store.appendAuditBatch([bad], [count('alpha.api', 0, 5)]));
      assert.deepEqual(await store.listCallers({ domain: 'beta', since: 0, limit: 10 }), []);
    });

    storeTest(harness, 'prunes the hours before a time, oldest first, about limit rows at a time', async (store) => {
      await store.appendAuditBatch([], [count('a.x', 0, 1), count('b.x', 0, 1), count('a.x', 1, 1), count('a.x', 5, 1)]);
      assert.equal(await store.pruneCallers(T0 + 2 * HOUR, 1), 2, 'rows of the same hour go together');
      assert.equal(await store.pruneCallers(T0 + 2 * HOUR, 10), 1);
      assert.equal(await store.pruneCallers(T0 + 2 * HOUR, 10), 0);
      assert.deepEqual(await store.callerSeries({ domain: 'beta', since: 0 }), [{ hour: T0 + 5 * HOUR, count: 1 }]);
    });

    peerTest(harness, 'two instances adding to the same rows at once lose no count', async (store, peer) => {
      const rounds = 20;
      const batch = (n: number): CallerCount[] => ['a.x', 'b.x', 'c.x'].map((principal) => count(principal, 0, n));
      await Promise.all(Array.from({ length: rounds }, (_, i) => (i % 2 === 0 ? store : peer).appendAuditBatch([], batch(1))));
      const all = await store.listCallers({ domain: 'beta', since: 0, limit: 10 });
      assert.deepEqual(
        all.map((c) => c.count),
        [rounds, rounds, rounds],
      );
    });
  });
}

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { TokenRateCount } from '../../../src/storage/records.ts';
import type { StoreHarness } from './harness.ts';
import { peerTest, storeTest } from './harness.ts';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);

function rate(hour: number, endpoint: TokenRateCount['endpoint'], outcome: string, count: number): TokenRateCount {
  return { hour: T0 + hour * HOUR, endpoint, outcome, count };
}

export function tokenRates(harness: StoreHarness): void {
  describe('token rates', () => {
    storeTest(harness, 'adds counts to the same hour, endpoint and outcome, and reads them in key order since a time', async (store) => {
      await store.appendAuditBatch([], [], [rate(1, 'token', 'issued', 2), rate(0, 'token', 'invalid_client', 1), rate(0, 'token', 'issued', 5)]);
      await store.appendAuditBatch([], [], [rate(0, 'token', 'issued', 3), rate(0, 'introspect', 'AUTH_106', 1), rate(1, 'token', 'issued', 1)]);
      assert.deepEqual(await store.tokenRates(0), [
        rate(0, 'introspect', 'AUTH_106', 1),
        rate(0, 'token', 'invalid_client', 1),
        rate(0, 'token', 'issued', 8),
        rate(1, 'token', 'issued', 3),
      ]);
      assert.deepEqual(await store.tokenRates(T0 + HOUR), [rate(1, 'token', 'issued', 3)]);
      assert.deepEqual(await store.tokenRates(T0 + 2 * HOUR), []);
    });

    storeTest(harness, 'writes the rates with the batch or not at all', async (store) => {
      const bad = { at: Number.NaN, actor: 'x', type: 'token.issued', target: 'x', before: null, after: null };
      await assert.rejects(store.appendAuditBatch([bad], [], [rate(0, 'token', 'issued', 5)]));
      assert.deepEqual(await store.tokenRates(0), []);
    });

    storeTest(harness, 'prunes the hours before a time, oldest first, about limit rows at a time', async (store) => {
      await store.appendAuditBatch(
        [],
        [],
        [rate(0, 'token', 'issued', 1), rate(0, 'revoke', 'invalid_client', 1), rate(1, 'token', 'issued', 1), rate(5, 'token', 'issued', 1)],
      );
      assert.equal(await store.pruneTokenRates(T0 + 2 * HOUR, 1), 2, 'rows of the same hour go together');
      assert.equal(await store.pruneTokenRates(T0 + 2 * HOUR, 10), 1);
      assert.equal(await store.pruneTokenRates(T0 + 2 * HOUR, 10), 0);
      assert.deepEqual(await store.tokenRates(0), [rate(5, 'token', 'issued', 1)]);
    });

    peerTest(harness, 'two instances adding to the same rows at once lose no count', async (store, peer) => {
      const rounds = 20;
      const batch = (): TokenRateCount[] => [rate(0, 'token', 'issued', 1), rate(0, 'token', 'invalid_scope', 1), rate(0, 'revoke', 'invalid_client', 1)];
      await Promise.all(Array.from({ length: rounds }, (_, i) => (i % 2 === 0 ? store : peer).appendAuditBatch([], [], batch())));
      assert.deepEqual(
        (await store.tokenRates(0)).map((r) => r.count),
        [rounds, rounds, rounds],
      );
    });
  });
}

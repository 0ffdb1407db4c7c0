import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketShare, databaseConnections, databasePoolShare, workerShare, type SharedBudgets } from '../../src/guards/worker-share.ts';

const config: SharedBudgets = {
  rateLimits: { client: { rate: 50, burst: 100 }, ip: { rate: 9, burst: 9 } },
  alerts: { failureThreshold: 10, failureWindow: 60, webhookUrl: null },
};

void describe('workerShare', () => {
  void it('leaves the budgets whole in a single process (no slot, or one worker)', () => {
    assert.equal(workerShare(config, undefined), config);
    assert.deepEqual(workerShare(config, { worker: 0, workers: 1 }), config);
  });

  void it('splits each burst into whole shares that add up to it, and divides the rate', () => {
    for (const workers of [2, 3, 4, 7, 9]) {
      const shares = Array.from({ length: workers }, (_, worker) => workerShare(config, { worker, workers }));
      for (const kind of ['client', 'ip'] as const) {
        const { rate, burst } = config.rateLimits[kind];
        const bursts = shares.map((share) => share.rateLimits[kind].burst);
        assert.equal(
          bursts.reduce((a, b) => a + b),
          burst,
          `${kind} bursts over ${workers} workers: ${bursts.join(' ')}`,
        );
        assert.ok(Math.max(...bursts) - Math.min(...bursts) <= 1, `as even as can be: ${bursts.join(' ')}`);
        for (const share of shares) assert.equal(share.rateLimits[kind].rate, rate / workers);
      }
    }
    assert.deepEqual(bucketShare({ rate: 9, burst: 9 }, { worker: 0, workers: 2 }), { rate: 4.5, burst: 5 });
    assert.deepEqual(bucketShare({ rate: 9, burst: 9 }, { worker: 1, workers: 2 }), { rate: 4.5, burst: 4 });
  });

  void it('keeps a share of at least 1 back to back when the burst is smaller than the worker count', () => {
    assert.deepEqual(bucketShare({ rate: 1, burst: 2 }, { worker: 3, workers: 4 }), { rate: 0.25, burst: 1 });
  });

  void it('keeps a limit that is off (rate 0) off', () => {
    assert.deepEqual(bucketShare({ rate: 0, burst: 0 }, { worker: 1, workers: 4 }), { rate: 0, burst: 0 });
  });

  void it('divides the alert threshold, rounded up and at least 1, and keeps the window and webhook', () => {
    assert.deepEqual(workerShare(config, { worker: 0, workers: 3 }).alerts, { failureThreshold: 4, failureWindow: 60, webhookUrl: null });
    assert.equal(workerShare(config, { worker: 1, workers: 2 }).alerts.failureThreshold, 5);
    assert.equal(workerShare(config, { worker: 5, workers: 16 }).alerts.failureThreshold, 1);
  });
});

void describe('databasePoolShare', () => {
  void it('gives a single process the whole pool, and each of N workers the pool divided by N, at least 2', () => {
    assert.equal(databasePoolShare(10, 1), 10);
    assert.equal(databasePoolShare(1, 1), 1);
    assert.equal(databasePoolShare(10, 2), 5);
    assert.equal(databasePoolShare(10, 3), 3);
    assert.equal(databasePoolShare(10, 10), 2);
    assert.equal(databasePoolShare(40, 16), 2);
  });

  void it("counts every connection the instance may hold: each process's pool and its LISTEN connection", () => {
    assert.equal(databaseConnections(10, 1), 11);
    assert.equal(databaseConnections(10, 2), 12);
    assert.equal(databaseConnections(10, 10), 30);
  });
});

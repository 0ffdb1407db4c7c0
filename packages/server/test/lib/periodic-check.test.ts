import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { periodicCheck } from '../../src/lib/periodic-check.ts';

describe('periodicCheck', () => {
  it('runs on each interval, never overlaps a slow run, reports failures and stops', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let runs = 0;
      let release: () => void = () => undefined;
      const errors: unknown[] = [];
      const check = periodicCheck(
        () => {
          runs += 1;
          if (runs === 2) return Promise.reject(new Error('boom'));
          return new Promise<void>((resolve) => (release = resolve));
        },
        1000,
        (error) => errors.push(error),
      );
      check.start();
      mock.timers.tick(1000);
      mock.timers.tick(1000); // the first run is still going: no second one
      assert.equal(runs, 1);
      release();
      await new Promise((resolve) => setImmediate(resolve));
      mock.timers.tick(1000);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(runs, 2);
      assert.equal((errors[0] as Error).message, 'boom');
      check.stop();
      mock.timers.tick(5000);
      assert.equal(runs, 2);
    } finally {
      mock.timers.reset();
    }
  });
});

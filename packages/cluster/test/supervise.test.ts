// The worker supervision the server's and the gateway's primaries share, with real worker
// processes (fixtures/worker.ts): the ready handshake, a failed start, restarts with a backoff
// that doubles while a worker keeps dying young, and stopping.

import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FIRST_BACKOFF_MS, MAX_BACKOFF_MS, restartDelay, superviseWorkers, type Slot, type Supervisor } from '../src/index.ts';

const WORKER = join(import.meta.dirname, 'fixtures', 'worker.ts');

interface Ready {
  type: 'ready';
  pid: number;
}
interface TestSlot extends Slot {
  label: string;
}

function supervise(workers: number, mode: string) {
  process.env['TESSERA_TEST_WORKER'] = mode;
  const errors: { msg: string; details: Record<string, unknown> }[] = [];
  const events: string[] = [];
  const supervisor = superviseWorkers<TestSlot, Ready>({
    workers,
    slot: (index) => ({ label: `slot-${index}` }),
    exec: WORKER,
    logError: (msg, details) => errors.push({ msg, details }),
    exitDetails: (worker: Worker) => ({ pid: worker.process.pid }),
    onFork: (slot) => events.push(`fork ${slot.label}`),
    onReady: (slot, _worker, message) => events.push(`ready ${slot.index} ${message.pid > 0}`),
    onExit: (slot, worker) => events.push(`exit ${slot.index} ${worker.process.exitCode}`),
  });
  running.push(supervisor);
  return { supervisor, errors, events };
}

const running: Supervisor<TestSlot, Ready>[] = [];
afterEach(async () => {
  for (const supervisor of running.splice(0)) await supervisor.stop(2000);
});

void describe('superviseWorkers', () => {
  void it('forks a worker per slot, resolves with each ready message, and stops them all', async () => {
    const { supervisor, events, errors } = supervise(2, 'ready');
    assert.deepEqual(
      supervisor.slots.map(({ index, label, worker, ready }) => ({ index, label, worker, ready })),
      [
        { index: 0, label: 'slot-0', worker: null, ready: false },
        { index: 1, label: 'slot-1', worker: null, ready: false },
      ],
    );
    const answers = await Promise.all(supervisor.slots.map((slot) => supervisor.fork(slot)));
    assert.deepEqual(
      answers.map((answer) => answer.type),
      ['ready', 'ready'],
    );
    assert.ok(supervisor.slots.every((slot) => slot.ready && slot.worker !== null));
    supervisor.markStarted();
    assert.equal(supervisor.started, true);
    await supervisor.stop(5000);
    assert.deepEqual(events.sort(), ['exit 0 0', 'exit 1 0', 'fork slot-0', 'fork slot-1', 'ready 0 true', 'ready 1 true']);
    assert.deepEqual(errors, [], 'a stop is no failure and restarts nothing');
    assert.ok(supervisor.slots.every((slot) => slot.worker === null && !slot.ready));
  });

  void it('rejects a start the worker says failed, logs it, and does not restart before markStarted', async () => {
    const { supervisor, errors, events } = supervise(1, 'fail');
    await assert.rejects(supervisor.fork(supervisor.slots[0]!), { message: 'no config' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(errors[0], { msg: 'worker 0 could not start', details: { worker: 0, error: 'no config' } });
    assert.equal(errors.length, 1);
    assert.deepEqual(events, ['fork slot-0', 'exit 0 1']);
  });

  void it('restarts a worker that exits, after a delay that doubles while it keeps dying young', async () => {
    const { supervisor, errors } = supervise(1, 'die');
    const slot = supervisor.slots[0]!;
    await supervisor.fork(slot);
    supervisor.markStarted();
    const deadline = Date.now() + 10_000;
    while (errors.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await supervisor.stop(2000);
    assert.deepEqual(
      errors.slice(0, 3).map(({ msg, details }) => [msg, details['worker'], details['code'], details['restartInMs'], details['exitsInARow']]),
      [
        ['worker 0 exited; restarting it', 0, 3, 250, 1],
        ['worker 0 keeps exiting soon after it starts; restarting it in 500 ms', 0, 3, 500, 2],
        ['worker 0 keeps exiting soon after it starts; restarting it in 1000 ms', 0, 3, 1000, 3],
      ],
    );
    assert.deepEqual(Object.keys(errors[0]!.details), ['worker', 'pid', 'code', 'signal', 'ranMs', 'restartInMs', 'exitsInARow']);
    const count = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal(errors.length, count, 'no restart after stop()');
  });

  void it('backs off from FIRST_BACKOFF_MS, doubling, up to MAX_BACKOFF_MS', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map(restartDelay), [0, FIRST_BACKOFF_MS, 2 * FIRST_BACKOFF_MS, 4 * FIRST_BACKOFF_MS, 8 * FIRST_BACKOFF_MS]);
    assert.equal(restartDelay(30), MAX_BACKOFF_MS);
  });
});

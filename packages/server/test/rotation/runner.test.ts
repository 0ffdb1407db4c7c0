// The rotation runner over an in-memory target: load, plan, apply, reload; lost races; followers;
// forced rotation; the hooks a configuration plugs in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RotationPolicy, RotationStep, Slot } from '../../src/rotation/plan.ts';
import { RotationRunner } from '../../src/rotation/runner.ts';
import type { RotationTarget } from '../../src/rotation/runner.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2030, 0, 1);
const policy: RotationPolicy = { rotationInterval: 30 * DAY, prePublication: HOUR, retention: 25 * HOUR };

/** Slots in memory, one prepared and one active at a time, like the stores. */
class MemoryTarget implements RotationTarget {
  slots: Slot[] = [];
  performed: RotationStep[] = [];
  loads = 0;
  /** How many of the next writes another instance wins. */
  losses = 0;
  accepts?: (step: RotationStep) => boolean;
  beforePlan?: () => Promise<boolean>;
  afterRefresh?: () => Promise<void>;
  #ids = 0;

  async load(): Promise<readonly Slot[]> {
    this.loads += 1;
    return this.slots.map((slot) => ({ ...slot }));
  }

  async perform(step: RotationStep): Promise<boolean> {
    if (this.losses > 0) {
      this.losses -= 1;
      return false;
    }
    this.performed.push(step);
    switch (step.step) {
      case 'create-first':
      case 'prepare': {
        const state = step.step === 'create-first' ? 'active' : 'prepared';
        if (this.slots.some((slot) => slot.state === state)) return false;
        this.#ids += 1;
        this.slots.push({ id: `s${this.#ids}`, state, activatesAt: step.activatesAt, notAfter: Infinity });
        return true;
      }
      case 'activate':
        for (const slot of this.slots) {
          if (slot.id === step.retire?.id) Object.assign(slot, { state: 'old', notAfter: step.retire.notAfter });
          if (slot.id === step.id) slot.state = 'active';
        }
        return true;
      case 'remove':
        this.slots = this.slots.filter((slot) => slot.id !== step.id);
        return true;
    }
  }
}

function runner(target: RotationTarget, clock: { now: number }, rotates = true): RotationRunner {
  return new RotationRunner({ target, policy, now: () => clock.now, checkIntervalMs: 60_000, rotates, subject: 'test', onError: () => undefined });
}

void describe('RotationRunner', () => {
  void test('refresh applies every due step and reloads until the plan is empty', async () => {
    const target = new MemoryTarget();
    const clock = { now: T0 };
    const engine = runner(target, clock);
    await engine.refresh();
    assert.deepEqual(
      target.slots.map((slot) => slot.state),
      ['active'],
    );

    clock.now = T0 + 30 * DAY;
    await engine.refresh();
    clock.now += HOUR;
    await engine.refresh();
    assert.deepEqual(
      target.slots.map((slot) => slot.state),
      ['old', 'active'],
    );
    clock.now += policy.retention;
    await engine.refresh();
    assert.deepEqual(
      target.slots.map((slot) => [slot.id, slot.state]),
      [['s2', 'active']],
    );
  });

  void test('a follower only loads: it takes no step', async () => {
    const target = new MemoryTarget();
    await runner(target, { now: T0 }, false).refresh();
    assert.deepEqual(target.performed, []);
    assert.equal(target.loads, 1);
  });

  void test('a step another instance took first ends the pass; the next pass plans from the reloaded state', async () => {
    const target = new MemoryTarget();
    target.slots = [{ id: 'a', state: 'active', activatesAt: T0, notAfter: Infinity }];
    target.losses = 1;
    await runner(target, { now: T0 + 40 * DAY }).refresh();
    assert.deepEqual(
      target.slots.map((slot) => slot.state),
      ['active', 'prepared'],
    );
    assert.equal(target.loads, 3, 'load, lost pass, winning pass');
  });

  void test('after a lost step, the rest of that pass is not attempted', async () => {
    const target = new MemoryTarget();
    target.slots = [
      { id: 'a', state: 'active', activatesAt: T0, notAfter: Infinity },
      { id: 'p', state: 'prepared', activatesAt: T0 + 30 * DAY, notAfter: Infinity },
    ];
    target.losses = 1;
    await runner(target, { now: T0 + 70 * DAY }).refresh();
    assert.deepEqual(
      target.performed.map((step) => step.step),
      ['activate', 'prepare'],
    );
    assert.deepEqual(
      target.slots.map((slot) => slot.state),
      ['old', 'active', 'prepared'],
    );
  });

  void test('a store that keeps answering false is given up on after a bounded number of passes', async () => {
    const target = new MemoryTarget();
    target.losses = 1000;
    await runner(target, { now: T0 }).refresh();
    assert.equal(1000 - target.losses, 4);
    assert.deepEqual(target.slots, []);
  });

  void test('a step the configuration does not accept is left out of the pass', async () => {
    const target = new MemoryTarget();
    target.slots = [{ id: 'a', state: 'active', activatesAt: T0, notAfter: Infinity }];
    target.accepts = (step: RotationStep): boolean => step.step !== 'prepare';
    await runner(target, { now: T0 + 40 * DAY }).refresh();
    assert.deepEqual(target.performed, []);
    assert.equal(target.loads, 1);
  });

  void test('beforePlan runs before each pass and a change it reports is loaded before planning', async () => {
    const target = new MemoryTarget();
    let calls = 0;
    target.beforePlan = async (): Promise<boolean> => {
      calls += 1;
      if (calls > 1) return false;
      target.slots.push({ id: 'imported', state: 'active', activatesAt: T0, notAfter: Infinity });
      return true;
    };
    await runner(target, { now: T0 }).refresh();
    assert.deepEqual(target.performed, [], 'no first slot created: the import is active');
    assert.equal(calls, 1);
  });

  void test('afterRefresh runs after a refresh that failed too, and the failure reaches the caller', async () => {
    const target = new MemoryTarget();
    let after = 0;
    target.load = async (): Promise<readonly Slot[]> => {
      throw new Error('store down');
    };
    target.afterRefresh = async (): Promise<void> => {
      after += 1;
    };
    await assert.rejects(runner(target, { now: T0 }).refresh(), /store down/);
    assert.equal(after, 1);
  });

  void test('forced rotation prepares a successor, or reports the pending one, and records either', async () => {
    const target = new MemoryTarget();
    const clock = { now: T0 };
    const engine = runner(target, clock);
    const recorded: unknown[] = [];
    const record = async (result: unknown): Promise<void> => void recorded.push(result);
    const first = await engine.rotate(record);
    assert.deepEqual(first, { id: 's2', activatesAt: T0 + HOUR, created: true });
    clock.now += 1000;
    assert.deepEqual(await engine.rotate(record), { id: 's2', activatesAt: T0 + HOUR, created: false });
    assert.deepEqual(recorded, [first, { ...first, created: false }]);
  });

  void test('forced rotation whose successor another instance activated at once prepares one again', async () => {
    const target = new MemoryTarget();
    target.slots = [{ id: 'a', state: 'active', activatesAt: T0, notAfter: Infinity }];
    const perform = target.perform.bind(target);
    let stolen = false;
    target.perform = async (step: RotationStep): Promise<boolean> => {
      const done = await perform(step);
      if (step.step === 'prepare' && !stolen) {
        stolen = true;
        for (const slot of target.slots) slot.state = slot.id === 'a' ? 'old' : 'active';
      }
      return done;
    };
    const result = await runner(target, { now: T0 }).rotate(async () => undefined);
    assert.deepEqual(result, { id: 's2', activatesAt: T0 + HOUR, created: true });
  });

  void test('forced rotation that never settles fails with a sentence', async () => {
    const target = new MemoryTarget();
    target.slots = [{ id: 'a', state: 'active', activatesAt: T0, notAfter: Infinity }];
    target.losses = 1000;
    await assert.rejects(
      runner(target, { now: T0 }).rotate(async () => undefined),
      /forced test rotation did not settle after 4 attempts/,
    );
  });

  void test('refreshes and rotations of one runner run one at a time', async () => {
    const target = new MemoryTarget();
    let inside = 0;
    let most = 0;
    const load = target.load.bind(target);
    target.load = async (): Promise<readonly Slot[]> => {
      inside += 1;
      most = Math.max(most, inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside -= 1;
      return load();
    };
    const engine = runner(target, { now: T0 });
    await Promise.all([engine.refresh(), engine.rotate(async () => undefined), engine.refresh()]);
    assert.equal(most, 1);
    await engine.stop();
  });
});

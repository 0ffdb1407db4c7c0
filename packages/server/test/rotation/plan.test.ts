// The one rotation planner on its own: pure functions of the slots, the clock and the policy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planForcedRotation, planRotation, signingSlotAt, successorDueAt } from '../../src/rotation/plan.ts';
import type { RotationPolicy, Slot, SlotState } from '../../src/rotation/plan.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2030, 0, 1);
/** Like a signing key: rotates on an interval, has no end of its own. */
const interval: RotationPolicy = { rotationInterval: 30 * DAY, prePublication: HOUR, retention: 25 * HOUR };
/** Like a CA generation: no interval, rotates ahead of its notAfter. */
const ending: RotationPolicy = { prePublication: DAY, retention: 30 * DAY };

function slot(id: string, state: SlotState, activatesAt: number, notAfter = Infinity): Slot {
  return { id, state, activatesAt, notAfter };
}

void describe('planRotation', () => {
  void test('creates a first slot, active at once, when nothing can sign', () => {
    assert.deepEqual(planRotation([], T0, interval), [{ step: 'create-first', activatesAt: T0 }]);
  });

  void test('creates a first slot when only old ones remain, and removes those that are due in the same plan', () => {
    const slots = [slot('gone', 'old', T0 - 40 * DAY, T0 - 1), slot('kept', 'old', T0 - 35 * DAY, T0 + HOUR)];
    assert.deepEqual(planRotation(slots, T0, interval), [
      { step: 'remove', id: 'gone', removeAt: T0 - 1 },
      { step: 'create-first', activatesAt: T0 },
    ]);
  });

  void test('waits for a prepared slot that is not due, even with nothing active', () => {
    assert.deepEqual(planRotation([slot('p', 'prepared', T0 + HOUR)], T0, interval), []);
  });

  void test('pre-publication: a successor is published a whole window before it signs', () => {
    const due = successorDueAt(slot('a', 'active', T0), interval);
    assert.equal(due, T0 + 30 * DAY - HOUR);
    assert.deepEqual(planRotation([slot('a', 'active', T0)], due - 1, interval), []);
    assert.deepEqual(planRotation([slot('a', 'active', T0)], due, interval), [{ step: 'prepare', activatesAt: due + HOUR }]);
  });

  void test('activates the prepared slot exactly at its activation time and retires the active one for a retention', () => {
    const at = T0 + 30 * DAY;
    const slots = [slot('a', 'active', T0), slot('p', 'prepared', at)];
    assert.deepEqual(planRotation(slots, at - 1, interval), []);
    assert.deepEqual(planRotation(slots, at, interval), [{ step: 'activate', id: 'p', retire: { id: 'a', at, notAfter: at + interval.retention } }]);
  });

  void test('finishes an activation that stopped after the retirement', () => {
    const slots = [slot('a', 'old', T0, T0 + 31 * DAY), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(slots, T0 + 30 * DAY + 5, interval), [{ step: 'activate', id: 'p', retire: null }]);
  });

  void test('overdue rotation: a late successor still gets the full window, from now', () => {
    const late = T0 + 45 * DAY;
    assert.deepEqual(planRotation([slot('a', 'active', T0)], late, interval), [{ step: 'prepare', activatesAt: late + HOUR }]);
  });

  void test('overdue activation after downtime: activates, retires from now, and prepares the next successor at once', () => {
    const now = T0 + 70 * DAY;
    const slots = [slot('a', 'active', T0), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(slots, now, interval), [
      { step: 'activate', id: 'p', retire: { id: 'a', at: now, notAfter: now + interval.retention } },
      { step: 'prepare', activatesAt: now + HOUR },
    ]);
  });

  void test('prepares no second successor while one is published', () => {
    const slots = [slot('a', 'active', T0), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(slots, T0 + 30 * DAY - 1, interval), []);
  });

  void test('retirement: an old slot stays until its notAfter (the last moment what it signed is valid), then leaves', () => {
    const slots = [slot('a', 'active', T0), slot('r', 'old', T0 - 30 * DAY, T0 + HOUR)];
    assert.deepEqual(planRotation(slots, T0 + HOUR - 1, interval), []);
    assert.deepEqual(planRotation(slots, T0 + HOUR, interval), [{ step: 'remove', id: 'r', removeAt: T0 + HOUR }]);
  });

  void test('removal: an old slot with no known end is never removed', () => {
    const slots = [slot('a', 'active', T0), slot('r', 'old', T0 - 30 * DAY)];
    assert.deepEqual(planRotation(slots, T0 + 10 * 365 * DAY, { ...interval, rotationInterval: 100 * 365 * DAY }), []);
  });

  void test('removes every old slot that is due, before any other step', () => {
    const slots = [slot('r1', 'old', T0 - 60 * DAY, T0 - DAY), slot('r2', 'old', T0 - 30 * DAY, T0), slot('a', 'active', T0 - 45 * DAY)];
    assert.deepEqual(planRotation(slots, T0, interval), [
      { step: 'remove', id: 'r1', removeAt: T0 - DAY },
      { step: 'remove', id: 'r2', removeAt: T0 },
      { step: 'prepare', activatesAt: T0 + HOUR },
    ]);
  });

  void test('clock jump forward: every overdue step comes in one plan, in the order it must be applied', () => {
    const jump = T0 + 400 * DAY;
    const slots = [slot('r', 'old', T0 - DAY, T0 + DAY), slot('a', 'active', T0), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(slots, jump, interval), [
      { step: 'remove', id: 'r', removeAt: T0 + DAY },
      { step: 'activate', id: 'p', retire: { id: 'a', at: jump, notAfter: jump + interval.retention } },
      { step: 'prepare', activatesAt: jump + HOUR },
    ]);
  });

  void test('clock jump backward: nothing is undone, nothing is removed early, nothing activates early', () => {
    const slots = [slot('r', 'old', T0 - 30 * DAY, T0 + DAY), slot('a', 'active', T0), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(slots, T0 - 100 * DAY, interval), []);
  });

  void test('with no pre-publication, a successor is due at the interval and signs at once', () => {
    const policy = { ...interval, prePublication: 0 };
    const due = T0 + 30 * DAY;
    assert.deepEqual(planRotation([slot('a', 'active', T0)], due, policy), [{ step: 'prepare', activatesAt: due }]);
  });
});

void describe('successorDueAt', () => {
  void test('a slot with an end: a sixth of its life before it', () => {
    const active = slot('a', 'active', 0, 600 * DAY);
    assert.equal(successorDueAt(active, ending), 500 * DAY);
  });

  void test('a short-lived slot: no later than the window plus one retention before its end', () => {
    assert.equal(successorDueAt(slot('a', 'active', 0, 40 * DAY), ending), 9 * DAY);
  });

  void test('a slot that is already past that point is due at once (its start or before)', () => {
    assert.ok(successorDueAt(slot('a', 'active', 0, 10 * DAY), ending) <= 0);
  });

  void test('with an interval and an end, whichever comes first', () => {
    const both = { ...ending, rotationInterval: 30 * DAY };
    assert.equal(successorDueAt(slot('a', 'active', 0, 600 * DAY), both), 29 * DAY, 'the interval');
    assert.equal(successorDueAt(slot('a', 'active', 0, 40 * DAY), { ...both, rotationInterval: 365 * DAY }), 9 * DAY, 'the end');
  });

  void test('with neither an interval nor an end, never', () => {
    assert.equal(successorDueAt(slot('a', 'active', 0), ending), Infinity);
    assert.deepEqual(planRotation([slot('a', 'active', 0)], 1000 * 365 * DAY, ending), []);
  });

  void test('an interval shorter than the window: due as soon as the slot signs', () => {
    assert.equal(successorDueAt(slot('a', 'active', T0), { ...interval, rotationInterval: HOUR / 2 }), T0);
  });
});

void describe('planForcedRotation', () => {
  void test('prepares a successor that signs after the whole window', () => {
    assert.deepEqual(planForcedRotation([slot('a', 'active', T0)], T0 + DAY, interval), { step: 'prepare', activatesAt: T0 + DAY + HOUR });
  });

  void test('reports a pending successor instead of shortening its window', () => {
    const slots = [slot('a', 'active', T0), slot('p', 'prepared', T0 + 30 * DAY)];
    assert.deepEqual(planForcedRotation(slots, T0 + 30 * DAY - 10, interval), { step: 'already-prepared', id: 'p', activatesAt: T0 + 30 * DAY });
  });
});

void describe('signingSlotAt', () => {
  const at = T0 + 30 * DAY;
  const slots = [slot('a', 'active', T0), slot('p', 'prepared', at)];

  void test('the active slot signs until the prepared one activates, which then signs before anyone applies the step', () => {
    assert.equal(signingSlotAt(slots, at - 1)?.id, 'a');
    assert.equal(signingSlotAt(slots, at)?.id, 'p');
  });

  void test('an old slot never signs', () => {
    assert.equal(signingSlotAt([slot('r', 'old', T0, at)], T0 + 1), undefined);
  });

  void test('clock behind the instance that activated: the stored active slot is the fallback', () => {
    assert.equal(signingSlotAt([slot('r', 'old', T0, at), slot('n', 'active', at)], at - 500)?.id, 'n');
  });

  void test('on equal activation times the active slot wins', () => {
    assert.equal(signingSlotAt([slot('p', 'prepared', T0), slot('a', 'active', T0)], T0)?.id, 'a');
  });
});

// The engine's two configurations at their storage edges: what a stored signing key or CA
// generation is to the planner.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { caSlots } from '../../src/ca/rotation.ts';
import { keySlot } from '../../src/keys/rotation.ts';
import { planRotation } from '../../src/rotation/plan.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

void describe('signing keys as slots', () => {
  const key = { kid: 'k', activatesAt: 5, removeAt: null };

  void test('the stored states next, active and retired are the engine’s prepared, active and old', () => {
    assert.deepEqual(
      (['next', 'active', 'retired'] as const).map((state) => keySlot({ ...key, state }).state),
      ['prepared', 'active', 'old'],
    );
  });

  void test('a key has no end until it retires; then everything it signed ends at its stored removeAt', () => {
    assert.equal(keySlot({ ...key, state: 'active' }).notAfter, Infinity);
    assert.equal(keySlot({ ...key, state: 'retired', removeAt: 99 }).notAfter, 99);
    assert.equal(keySlot({ ...key, state: 'retired' }).notAfter, Infinity, 'retired by other code: kept published');
  });
});

void describe('CA generations as slots', () => {
  const policy = { prePublication: DAY, retention: 30 * DAY };

  void test('a prepared generation signs one window after its creation; an active one is dated by its creation', () => {
    const [active, prepared] = caSlots(
      [
        { id: 'a', state: 'active', createdAt: 0, notAfter: 1000 * DAY },
        { id: 'p', state: 'prepared', createdAt: 500 * DAY, notAfter: 1500 * DAY },
      ],
      policy,
    );
    assert.deepEqual(active, { id: 'a', state: 'active', activatesAt: 0, notAfter: 1000 * DAY });
    assert.deepEqual(prepared, { id: 'p', state: 'prepared', activatesAt: 501 * DAY, notAfter: 1500 * DAY });
  });

  void test('an old generation ends one retention after its successor took over, or at its own notAfter if sooner', () => {
    const slots = caSlots(
      [
        { id: 'o', state: 'old', createdAt: 0, notAfter: 1000 * DAY },
        { id: 'a', state: 'active', createdAt: 500 * DAY, notAfter: 1500 * DAY },
      ],
      policy,
    );
    assert.equal(slots[0]?.notAfter, 531 * DAY);
    assert.deepEqual(planRotation(slots, 531 * DAY, policy), [{ step: 'remove', id: 'o', removeAt: 531 * DAY }]);
    const short = caSlots(
      [
        { id: 'o', state: 'old', createdAt: 0, notAfter: 10 * DAY },
        { id: 'a', state: 'active', createdAt: 5 * DAY, notAfter: 900 * DAY },
      ],
      policy,
    );
    assert.equal(short[0]?.notAfter, 10 * DAY);
  });
});

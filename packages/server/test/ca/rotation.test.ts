// The CA rotation planner on its own: pure functions of the generations and the clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { activatesAt, removeAt } from '../../src/ca/rotation.ts';
import type { GenerationTimes } from '../../src/ca/rotation.ts';
import { planCaRotation, planForcedCaRotation, signingGenerationAt, caSuccessorDueAt as successorDueAt } from '../rotation/legacy-planners.ts';
import type { CaRotationPolicy } from '../rotation/legacy-planners.ts';

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const policy: CaRotationPolicy = { prePublication: DAY, retention: 30 * DAY };

function generation(id: string, state: GenerationTimes['state'], createdAt: number, life = 5 * YEAR): GenerationTimes {
  return { id, state, createdAt, notAfter: createdAt + life };
}

void describe('planCaRotation', () => {
  void test('creates the first CA, active at once, when nothing can sign', () => {
    assert.deepEqual(planCaRotation([], 0, policy), [{ step: 'create-first' }]);
  });

  void test('does nothing for a young active CA', () => {
    assert.deepEqual(planCaRotation([generation('a', 'active', 0)], YEAR, policy), []);
  });

  void test('prepares the successor a sixth of the issuing certificate’s life before its end', () => {
    const active = generation('a', 'active', 0);
    const due = successorDueAt(active, policy);
    assert.equal(due, 5 * YEAR - (5 * YEAR) / 6);
    assert.deepEqual(planCaRotation([active], due - 1, policy), []);
    assert.deepEqual(planCaRotation([active], due, policy), [{ step: 'prepare', activatesAt: due + DAY }]);
  });

  void test('prepares a short-lived CA’s successor early enough for the pre-publication window and one retention', () => {
    const active = generation('a', 'active', 0, 40 * DAY);
    assert.equal(successorDueAt(active, policy), 40 * DAY - 31 * DAY);
  });

  void test('activates the prepared CA at createdAt + prePublication and retires the active one', () => {
    const gens = [generation('a', 'active', 0), generation('b', 'prepared', YEAR)];
    assert.equal(activatesAt(gens[1]!, policy), YEAR + DAY);
    assert.deepEqual(planCaRotation(gens, YEAR + DAY - 1, policy), []);
    assert.deepEqual(planCaRotation(gens, YEAR + DAY, policy), [{ step: 'activate', id: 'b', retire: 'a' }]);
  });

  void test('finishes an activation interrupted after the retirement', () => {
    const gens = [generation('a', 'old', 0), generation('b', 'prepared', YEAR)];
    assert.deepEqual(planCaRotation(gens, YEAR + DAY, policy), [{ step: 'activate', id: 'b', retire: null }]);
  });

  void test('keeps an old CA until its successor has signed for the retention, then removes it', () => {
    const gens = [generation('a', 'old', 0), generation('b', 'active', YEAR)];
    const at = removeAt(gens[0]!, gens, policy);
    assert.equal(at, YEAR + DAY + 30 * DAY);
    assert.deepEqual(planCaRotation(gens, at - 1, policy), []);
    assert.deepEqual(planCaRotation(gens, at, policy), [{ step: 'remove', id: 'a', removeAt: at }]);
  });

  void test('removes an old CA no later than its own notAfter, since nothing it signed outlives it', () => {
    const old = generation('a', 'old', 0, 10 * DAY);
    assert.equal(removeAt(old, [old, generation('b', 'active', 5 * DAY)], policy), 10 * DAY);
    assert.equal(removeAt(old, [old], policy), 10 * DAY, 'without a successor on record');
  });

  void test('the successor of an old CA is the next generation created after it', () => {
    const gens = [generation('a', 'old', 0), generation('b', 'old', YEAR), generation('c', 'active', 2 * YEAR)];
    assert.equal(removeAt(gens[0]!, gens, policy), YEAR + 31 * DAY);
    assert.equal(removeAt(gens[1]!, gens, policy), 2 * YEAR + 31 * DAY);
  });
});

void describe('planForcedCaRotation', () => {
  void test('prepares a successor that signs after the whole pre-publication window', () => {
    assert.deepEqual(planForcedCaRotation([generation('a', 'active', 0)], 5 * DAY, policy), { step: 'prepare', activatesAt: 6 * DAY });
  });

  void test('reports a pending successor instead of shortening its window', () => {
    const gens = [generation('a', 'active', 0), generation('b', 'prepared', 5 * DAY)];
    assert.deepEqual(planForcedCaRotation(gens, 5.5 * DAY, policy), { step: 'already-prepared', id: 'b', activatesAt: 6 * DAY });
  });
});

void describe('signingGenerationAt', () => {
  void test('the active CA signs until the prepared one’s activation time, which then signs even before the activate step', () => {
    const gens = [generation('a', 'active', 0), generation('b', 'prepared', YEAR)];
    assert.equal(signingGenerationAt(gens, YEAR + DAY - 1, policy)?.id, 'a');
    assert.equal(signingGenerationAt(gens, YEAR + DAY, policy)?.id, 'b');
  });

  void test('an old CA never signs; the active one is the fallback when a clock runs behind', () => {
    assert.equal(signingGenerationAt([generation('a', 'old', 0), generation('b', 'active', YEAR)], YEAR + 1, policy)?.id, 'b');
    assert.equal(signingGenerationAt([generation('b', 'active', YEAR)], YEAR - 1000, policy)?.id, 'b');
    assert.equal(signingGenerationAt([generation('a', 'old', 0)], YEAR, policy), undefined);
  });
});

// The two planners that were merged into rotation/plan.ts — signing keys (`next → active →
// retired`, steps prepare-next and promote) and CA generations — spelled through the one engine
// and its two storage edges. Their tests (test/keys/rotation.test.ts, test/ca/rotation.test.ts)
// keep their assertions as they were written, so they show that the merge changed no decision.

import { caSlots } from '../../src/ca/rotation.ts';
import type { GenerationTimes } from '../../src/ca/rotation.ts';
import { keySlot } from '../../src/keys/rotation.ts';
import type { KeyRotationPolicy } from '../../src/keys/rotation.ts';
import * as engine from '../../src/rotation/plan.ts';
import type { RotationPolicy, Slot } from '../../src/rotation/plan.ts';
import type { SigningKeyRecord } from '../../src/storage/records.ts';

export type { KeyRotationPolicy as RotationPolicy, RotationPolicy as CaRotationPolicy };

// Signing keys.

export function planRotation(keys: readonly SigningKeyRecord[], now: number, policy: RotationPolicy): unknown[] {
  return engine.planRotation(keys.map(keySlot), now, policy).map((step) => {
    switch (step.step) {
      case 'create-first':
        return step;
      case 'prepare':
        return { step: 'prepare-next', activatesAt: step.activatesAt };
      case 'activate': {
        const { retire } = step;
        return { step: 'promote', kid: step.id, retire: retire && { kid: retire.id, retiredAt: retire.at, removeAt: retire.notAfter } };
      }
      case 'remove':
        return { step: 'remove', kid: step.id, removeAt: step.removeAt };
    }
  });
}

export function planForcedRotation(keys: readonly SigningKeyRecord[], now: number, policy: RotationPolicy): unknown {
  const plan = engine.planForcedRotation(keys.map(keySlot), now, policy);
  if (plan.step === 'prepare') return { step: 'prepare-next', activatesAt: plan.activatesAt };
  return { step: plan.step, kid: plan.id, activatesAt: plan.activatesAt };
}

export function successorDueAt(active: SigningKeyRecord, policy: RotationPolicy): number {
  return engine.successorDueAt(keySlot(active), policy);
}

export function signingKeyAt<K extends Pick<SigningKeyRecord, 'kid' | 'state' | 'activatesAt' | 'removeAt'>>(keys: readonly K[], now: number): K | undefined {
  return pick(keys, keys.map(keySlot), now);
}

// CA generations.

export function planCaRotation(generations: readonly GenerationTimes[], now: number, policy: RotationPolicy): unknown[] {
  return engine.planRotation(caSlots(generations, policy), now, policy).map((step) => {
    switch (step.step) {
      case 'create-first':
        return { step: 'create-first' };
      case 'activate':
        return { step: 'activate', id: step.id, retire: step.retire?.id ?? null };
      default:
        return step;
    }
  });
}

export function planForcedCaRotation(generations: readonly GenerationTimes[], now: number, policy: RotationPolicy): unknown {
  return engine.planForcedRotation(caSlots(generations, policy), now, policy);
}

export function caSuccessorDueAt(active: GenerationTimes, policy: RotationPolicy): number {
  const [slot] = caSlots([active], policy);
  if (slot === undefined) throw new Error('unreachable');
  return engine.successorDueAt(slot, policy);
}

export function signingGenerationAt<G extends GenerationTimes>(generations: readonly G[], now: number, policy: RotationPolicy): G | undefined {
  return pick(generations, caSlots(generations, policy), now);
}

/** The record whose slot signs at `now` (slots stand in the records' order). */
function pick<R>(records: readonly R[], slots: readonly Slot[], now: number): R | undefined {
  const slot = engine.signingSlotAt(slots, now);
  return slot === undefined ? undefined : records[slots.indexOf(slot)];
}

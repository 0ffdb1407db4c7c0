// CA generations as slots of the one rotation engine (rotation/plan.ts): the storage edge. The
// database stores the engine's own states (prepared, active, old) and, per generation, only its
// creation time and certificates; the slot's times are derived from them here, so no extra
// timestamps have to be stored and every instance computes the same times.
//
// A CA generation has an end (its issuing certificate's notAfter) and no rotation interval: its
// successor is prepared ahead of that end. An old generation's record says nothing of when it
// retired; its successor's creation dates that, and it leaves the bundle one retention after.

import type { RotationPolicy, Slot } from '../rotation/plan.ts';
import type { CaRecord } from '../storage/records.ts';

/** What the storage edge needs to know of a generation. */
export interface GenerationTimes {
  id: string;
  state: CaRecord['state'];
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** The issuing certificate's notAfter (ms). */
  notAfter: number;
}

/**
 * When a generation starts signing. A prepared CA signs from `createdAt + prePublication` on
 * every instance alike, whether or not the `activate` step has been applied yet; an active CA
 * (the first, or an activated one) is ordered by its creation time.
 */
export function activatesAt(generation: Pick<GenerationTimes, 'state' | 'createdAt'>, policy: RotationPolicy): number {
  return generation.state === 'prepared' ? generation.createdAt + policy.prePublication : generation.createdAt;
}

/**
 * When an old CA may leave the bundle: once its successor has signed for `retention`, every
 * certificate the old CA signed has expired, and nothing it signed outlives its own notAfter.
 */
export function removeAt(old: GenerationTimes, generations: readonly GenerationTimes[], policy: RotationPolicy): number {
  let successor: GenerationTimes | undefined;
  for (const generation of generations) {
    // Created at the same millisecond still counts: only an injected clock makes that happen.
    if (generation.createdAt < old.createdAt || generation.id === old.id) continue;
    if (successor === undefined || generation.createdAt < successor.createdAt) successor = generation;
  }
  if (successor === undefined) return old.notAfter;
  // Every successor was created as `prepared`, so it took over at createdAt + prePublication.
  return Math.min(old.notAfter, successor.createdAt + policy.prePublication + policy.retention);
}

/** The generations as the planner sees them, in the same order. */
export function caSlots(generations: readonly GenerationTimes[], policy: RotationPolicy): Slot[] {
  return generations.map((generation) => ({
    id: generation.id,
    state: generation.state,
    activatesAt: activatesAt(generation, policy),
    notAfter: generation.state === 'old' ? removeAt(generation, generations, policy) : generation.notAfter,
  }));
}

const STATE_ORDER: Record<GenerationTimes['state'], number> = { prepared: 0, active: 1, old: 2 };

/** Newest first (prepared before active before old on equal creation times): the bundle's order. */
export function newestFirst<G extends Pick<GenerationTimes, 'id' | 'state' | 'createdAt'>>(generations: readonly G[]): G[] {
  return [...generations].sort((a, b) => b.createdAt - a.createdAt || STATE_ORDER[a.state] - STATE_ORDER[b.state] || (a.id < b.id ? -1 : 1));
}

// CA rotation as one explicit state machine, after SPIRE's CA slot manager:
//
//   (none) ──create-first──▶ active
//   (none) ──prepare──▶ prepared ──activate──▶ active ──activate (of its successor)──▶ old ──remove──▶ (none)
//
// A prepared CA's root is in the trust bundle but the CA does not sign; the active CA signs; an
// old CA's root stays in the bundle until everything it signed has expired. Every time at which
// a step is due is computed here and nowhere else, from the generations' own data (creation
// time, the issuing certificate's notAfter), so no extra timestamps have to be stored and every
// instance computes the same times. The functions are pure: ca/authority.ts applies the steps
// with the store's compare-and-set calls.

import type { CaRecord } from '../storage/records.ts';

/** All durations in milliseconds. */
export interface CaRotationPolicy {
  /** How long a prepared CA is in the bundle before it signs. */
  prePublication: number;
  /** How long an old CA stays in the bundle after it stopped signing: the longest leaf lifetime plus clock skew. */
  retention: number;
}

/** What the planner needs to know of a generation. */
export interface GenerationTimes {
  id: string;
  state: CaRecord['state'];
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** The issuing certificate's notAfter (ms). */
  notAfter: number;
}

export type CaRotationStep =
  /** Nothing can sign (first start): create a CA that is active at once. */
  | { step: 'create-first' }
  /** The active CA nears its end: create its successor, in the bundle from now. */
  | { step: 'prepare'; activatesAt: number }
  /** The prepared CA's time has come: it becomes active and the active CA (if any) becomes old. */
  | { step: 'activate'; id: string; retire: string | null }
  /** An old CA outlived everything it signed: its root leaves the bundle. */
  | { step: 'remove'; id: string; removeAt: number };

export type ForcedCaRotation =
  /** A successor is already in the bundle; forcing again must not shorten its pre-publication. */
  | { step: 'already-prepared'; id: string; activatesAt: number }
  | Extract<CaRotationStep, { step: 'prepare' }>;

/**
 * When a generation starts signing. A prepared CA signs from `createdAt + prePublication` on
 * every instance alike, whether or not the `activate` step has been applied yet; an active CA
 * (the first, or an activated one) is ordered by its creation time.
 */
export function activatesAt(generation: Pick<GenerationTimes, 'state' | 'createdAt'>, policy: CaRotationPolicy): number {
  return generation.state === 'prepared' ? generation.createdAt + policy.prePublication : generation.createdAt;
}

/**
 * When an old CA may leave the bundle: once its successor has signed for `retention`, every
 * certificate the old CA signed has expired, and nothing it signed outlives its own notAfter.
 */
export function removeAt(old: GenerationTimes, generations: readonly GenerationTimes[], policy: CaRotationPolicy): number {
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

/**
 * When the active CA's successor is due: a sixth of its life before its end (as SPIRE prepares
 * well ahead), and never later than the pre-publication window plus one longest leaf lifetime
 * before it, so the successor takes over before the active CA has to cut lifetimes short.
 */
export function successorDueAt(active: GenerationTimes, policy: CaRotationPolicy): number {
  const life = Math.max(0, active.notAfter - active.createdAt);
  return active.notAfter - Math.max(life / 6, policy.prePublication + policy.retention);
}

/** The steps that bring `generations` up to date at `now`, in the order they must be applied. */
export function planCaRotation(generations: readonly GenerationTimes[], now: number, policy: CaRotationPolicy): CaRotationStep[] {
  const steps: CaRotationStep[] = [];
  for (const generation of generations) {
    if (generation.state !== 'old') continue;
    const at = removeAt(generation, generations, policy);
    if (at <= now) steps.push({ step: 'remove', id: generation.id, removeAt: at });
  }

  let active = generations.find((generation) => generation.state === 'active');
  let prepared = generations.find((generation) => generation.state === 'prepared');
  if (active === undefined && prepared === undefined) {
    // Nobody can hold a certificate from a CA that never existed, so skipping pre-publication
    // breaks no verifier.
    steps.push({ step: 'create-first' });
    return steps;
  }

  if (prepared !== undefined && activatesAt(prepared, policy) <= now) {
    steps.push({ step: 'activate', id: prepared.id, retire: active?.id ?? null });
    active = { ...prepared, state: 'active' };
    prepared = undefined;
  }

  if (active !== undefined && prepared === undefined && now >= successorDueAt(active, policy)) {
    // From now rather than from the due time: after downtime the successor still gets the full
    // window, because verifiers can only fetch it from now on.
    steps.push({ step: 'prepare', activatesAt: now + policy.prePublication });
  }
  return steps;
}

/** An administrator's "rotate now": a successor in the bundle at once, signing after the full window. */
export function planForcedCaRotation(generations: readonly GenerationTimes[], now: number, policy: CaRotationPolicy): ForcedCaRotation {
  const prepared = generations.find((generation) => generation.state === 'prepared');
  if (prepared !== undefined) return { step: 'already-prepared', id: prepared.id, activatesAt: activatesAt(prepared, policy) };
  return { step: 'prepare', activatesAt: now + policy.prePublication };
}

/**
 * The generation that signs at `now`: among prepared and active ones already activated, the
 * latest. A prepared CA counts so that every instance switches at its activation time, whether or
 * not it has reloaded since the `activate` step; the active CA is the fallback.
 */
const STATE_ORDER: Record<GenerationTimes['state'], number> = { prepared: 0, active: 1, old: 2 };

/** Newest first (prepared before active before old on equal creation times): the bundle's order. */
export function newestFirst<G extends Pick<GenerationTimes, 'id' | 'state' | 'createdAt'>>(generations: readonly G[]): G[] {
  return [...generations].sort(
    (a, b) => b.createdAt - a.createdAt || STATE_ORDER[a.state] - STATE_ORDER[b.state] || (a.id < b.id ? -1 : 1),
  );
}

export function signingGenerationAt<G extends GenerationTimes>(generations: readonly G[], now: number, policy: CaRotationPolicy): G | undefined {
  let best: G | undefined;
  for (const generation of generations) {
    if (generation.state === 'old') continue;
    const at = activatesAt(generation, policy);
    if (at > now) continue;
    if (best === undefined || at > activatesAt(best, policy) || (at === activatesAt(best, policy) && generation.state === 'active')) best = generation;
  }
  return best ?? generations.find((generation) => generation.state === 'active');
}

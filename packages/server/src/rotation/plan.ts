// Key rotation as one explicit state machine, after SPIRE's CA slot manager. Token-signing keys
// (keys/rotation.ts) and CA generations (ca/rotation.ts) are two configurations of it; each maps
// its stored records to slots at its storage edge.
//
//   (none) ──create-first──▶ active
//   (none) ──prepare──▶ prepared ──activate──▶ active ──activate (of its successor)──▶ old ──remove──▶ (none)
//
// A prepared slot is published (in the JWKS, in the trust bundle) but does not sign, so verifiers
// fetch it before they meet anything it signed; the active slot signs; an old slot stays published
// until everything it signed has expired. Every time at which a step is due is computed in this
// file and nowhere else. The functions are pure: rotation/runner.ts applies the steps with the
// store's compare-and-set calls, so instances sharing a database converge.

export type SlotState = 'prepared' | 'active' | 'old';

/** What the planner needs to know of a signing key or a CA generation. Times in ms since the epoch. */
export interface Slot {
  id: string;
  state: SlotState;
  /** When it signs from; before that it is only published. */
  activatesAt: number;
  /**
   * The last moment anything it signed can still be valid; Infinity when nothing bounds it yet
   * (a signing key before it is retired). An old slot leaves publication at this time.
   */
  notAfter: number;
}

/** All durations in milliseconds. */
export interface RotationPolicy {
  /** How long a slot is published before it signs (at least the longest verifier cache). */
  prePublication: number;
  /** How long an old slot stays published after it stopped signing: the longest lifetime of what it signs plus clock skew. */
  retention: number;
  /**
   * How long a slot signs before its successor takes over. Absent: only the slot's own notAfter
   * brings its successor (a CA generation, whose certificate ends).
   */
  rotationInterval?: number;
}

export interface Retirement {
  id: string;
  /** When it stopped signing. */
  at: number;
  /** When everything it signed has expired: `at` plus the retention. */
  notAfter: number;
}

export type RotationStep =
  /** Nothing can sign and nothing waits to (first start): create a slot that is active at once. */
  | { step: 'create-first'; activatesAt: number }
  /** The active slot is due for rotation: create its successor, published from now. */
  | { step: 'prepare'; activatesAt: number }
  /** The prepared slot's time has come: it becomes active and the active slot (if any) becomes old. */
  | { step: 'activate'; id: string; retire: Retirement | null }
  /** An old slot outlived everything it signed: it leaves publication. */
  | { step: 'remove'; id: string; removeAt: number };

export type ForcedRotation =
  /** A successor is already published; forcing again must not shorten its pre-publication. */
  { step: 'already-prepared'; id: string; activatesAt: number } | Extract<RotationStep, { step: 'prepare' }>;

/**
 * When the active slot's successor must be created: so that it is published for the whole
 * pre-publication window before the active slot has signed for `rotationInterval`, and — for a
 * slot with an end — a sixth of its life before that end (as SPIRE prepares well ahead), never
 * later than the window plus one retention before it, so the successor takes over before the
 * active slot has to cut lifetimes short. Whichever comes first.
 */
export function successorDueAt(active: Slot, policy: RotationPolicy): number {
  const byInterval = policy.rotationInterval === undefined ? Infinity : active.activatesAt + Math.max(0, policy.rotationInterval - policy.prePublication);
  if (!Number.isFinite(active.notAfter)) return byInterval;
  const life = Math.max(0, active.notAfter - active.activatesAt);
  return Math.min(byInterval, active.notAfter - Math.max(life / 6, policy.prePublication + policy.retention));
}

/**
 * When the scheduler will next create a successor (a `prepare` step): from the active slot, or —
 * while a successor is already prepared — from that one once it has taken over, since nothing is
 * prepared while one waits. Null when nothing schedules one (no slot, or no interval and no end).
 * A time in the past means it is due at the next check.
 */
export function nextPrepareAt(slots: readonly Slot[], policy: RotationPolicy): number | null {
  const prepared = slots.find((slot) => slot.state === 'prepared');
  const base = prepared ?? slots.find((slot) => slot.state === 'active');
  if (base === undefined) return null;
  const due = successorDueAt({ ...base, state: 'active' }, policy);
  if (!Number.isFinite(due)) return null;
  return prepared === undefined ? due : Math.max(due, prepared.activatesAt);
}

/** The steps that bring `slots` up to date at `now`, in the order they must be applied. */
export function planRotation(slots: readonly Slot[], now: number, policy: RotationPolicy): RotationStep[] {
  const steps: RotationStep[] = [];
  for (const slot of slots) {
    if (slot.state === 'old' && slot.notAfter <= now) steps.push({ step: 'remove', id: slot.id, removeAt: slot.notAfter });
  }

  let active = slots.find((slot) => slot.state === 'active');
  let prepared = slots.find((slot) => slot.state === 'prepared');
  if (active === undefined && prepared === undefined) {
    // Nothing can sign and nothing is waiting to: on a first start nobody can hold anything we
    // signed yet, so skipping pre-publication breaks no verifier.
    steps.push({ step: 'create-first', activatesAt: now });
    return steps;
  }

  if (prepared !== undefined && prepared.activatesAt <= now) {
    const retire = active === undefined ? null : { id: active.id, at: now, notAfter: now + policy.retention };
    steps.push({ step: 'activate', id: prepared.id, retire });
    active = { ...prepared, state: 'active' };
    prepared = undefined;
  }

  if (active !== undefined && prepared === undefined && now >= successorDueAt(active, policy)) {
    // From now rather than from the due time: after downtime (or a clock jump) the successor
    // still gets the full window, because verifiers can only fetch it from now on.
    steps.push({ step: 'prepare', activatesAt: now + policy.prePublication });
  }
  return steps;
}

/** An administrator's "rotate now": a successor published at once, signing after the full window. */
export function planForcedRotation(slots: readonly Slot[], now: number, policy: RotationPolicy): ForcedRotation {
  const prepared = slots.find((slot) => slot.state === 'prepared');
  if (prepared !== undefined) return { step: 'already-prepared', id: prepared.id, activatesAt: prepared.activatesAt };
  return { step: 'prepare', activatesAt: now + policy.prePublication };
}

/**
 * The slot that signs at `now`: among prepared and active slots already activated, the latest.
 * A prepared slot counts so that every instance switches at its activation time, whether or not
 * it has reloaded since the `activate` step. When instance clocks disagree, the stored active slot
 * may not have activated yet by this clock; it is still published, so it is the fallback.
 */
export function signingSlotAt<S extends Pick<Slot, 'state' | 'activatesAt'>>(slots: readonly S[], now: number): S | undefined {
  let best: S | undefined;
  for (const slot of slots) {
    if (slot.state === 'old' || slot.activatesAt > now) continue;
    if (best === undefined || slot.activatesAt > best.activatesAt || (slot.activatesAt === best.activatesAt && slot.state === 'active')) best = slot;
  }
  return best ?? slots.find((slot) => slot.state === 'active');
}

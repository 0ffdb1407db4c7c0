// Token-signing key rotation as one explicit state machine, after SPIRE's CA slot manager:
//
//   (none) ──create-first──▶ active
//   (none) ──prepare-next──▶ next ──promote──▶ active ──promote (of its successor)──▶ retired ──remove──▶ (none)
//
// A `next` key is published but does not sign; an `active` key signs; a `retired` key is
// published until every token it signed has expired. Every time at which a step is due is
// computed in this file and nowhere else. The functions are pure: keys/signing-keys.ts applies
// their steps with compare-and-set store calls, so instances sharing a database converge.

import type { Config } from '../config/config.ts';
import type { SigningKeyRecord } from '../storage/records.ts';

/** All durations in milliseconds. */
export interface RotationPolicy {
  /** How long a key signs before its successor takes over. */
  rotationInterval: number;
  /** How long a key is published before it signs (at least the longest verifier JWKS cache). */
  prePublication: number;
  /** How long a retired key stays published: the longest token lifetime plus clock skew. */
  retention: number;
}

export interface Retirement {
  kid: string;
  retiredAt: number;
  removeAt: number;
}

export type RotationStep =
  /** No key can sign at all (first start): create one that is active at once. */
  | { step: 'create-first'; activatesAt: number }
  /** The active key is due for rotation: create its successor, published from now. */
  | { step: 'prepare-next'; activatesAt: number }
  /** The next key's time has come: it becomes active and the active key (if any) retires. */
  | { step: 'promote'; kid: string; retire: Retirement | null }
  /** A retired key outlived every token it signed: it leaves the JWKS. */
  | { step: 'remove'; kid: string; removeAt: number };

export type ForcedRotation =
  /** A successor is already published; forcing again must not shorten its pre-publication. */
  | { step: 'already-prepared'; kid: string; activatesAt: number }
  | Extract<RotationStep, { step: 'prepare-next' }>;

export function rotationPolicy(config: Pick<Config, 'signing' | 'tokens' | 'clockSkew'>): RotationPolicy {
  return {
    rotationInterval: config.signing.rotationInterval * 1000,
    prePublication: config.signing.prePublication * 1000,
    retention: (config.tokens.maxLifetime + config.clockSkew) * 1000,
  };
}

/**
 * When the active key's successor must be created: early enough that it is published for the
 * whole pre-publication window before the active key has signed for `rotationInterval`.
 */
export function successorDueAt(active: SigningKeyRecord, policy: RotationPolicy): number {
  return active.activatesAt + Math.max(0, policy.rotationInterval - policy.prePublication);
}

/** The steps that bring `keys` up to date at `now`, in the order they must be applied. */
export function planRotation(keys: readonly SigningKeyRecord[], now: number, policy: RotationPolicy): RotationStep[] {
  const steps: RotationStep[] = [];
  for (const key of keys) {
    // A retired key without removeAt was not retired by this code; keeping it published is the
    // safe side (an extra JWKS entry, never a token that stops verifying).
    if (key.state === 'retired' && key.removeAt !== null && key.removeAt <= now) {
      steps.push({ step: 'remove', kid: key.kid, removeAt: key.removeAt });
    }
  }

  let active = keys.find((key) => key.state === 'active');
  let next = keys.find((key) => key.state === 'next');

  if (active === undefined && next === undefined) {
    // Nothing can sign and nothing is waiting to: on a first start nobody can hold a token of
    // ours yet, so skipping pre-publication breaks no verifier.
    steps.push({ step: 'create-first', activatesAt: now });
    return steps;
  }

  if (next !== undefined && next.activatesAt <= now) {
    const retire = active === undefined ? null : { kid: active.kid, retiredAt: now, removeAt: now + policy.retention };
    steps.push({ step: 'promote', kid: next.kid, retire });
    active = { ...next, state: 'active' };
    next = undefined;
  }

  if (active !== undefined && next === undefined && now >= successorDueAt(active, policy)) {
    // From now rather than from the due time: after downtime the successor still gets the
    // full window, because verifiers can only have fetched it from now on.
    steps.push({ step: 'prepare-next', activatesAt: now + policy.prePublication });
  }
  return steps;
}

/** An administrator's "rotate now": publish a successor, which signs only after the full window. */
export function planForcedRotation(keys: readonly SigningKeyRecord[], now: number, policy: RotationPolicy): ForcedRotation {
  const next = keys.find((key) => key.state === 'next');
  if (next !== undefined) return { step: 'already-prepared', kid: next.kid, activatesAt: next.activatesAt };
  return { step: 'prepare-next', activatesAt: now + policy.prePublication };
}

/**
 * The key to sign with at `now`: among next and active keys already activated, the latest. A
 * next key counts so that every instance switches at its activatesAt, whether or not it has
 * reloaded since the promotion. When instance clocks disagree, the store's active key may not
 * have activated yet by this clock; it is still published, so it is the fallback.
 */
export function signingKeyAt<K extends Pick<SigningKeyRecord, 'state' | 'activatesAt' | 'kid'>>(
  keys: readonly K[],
  now: number,
): K | undefined {
  let best: K | undefined;
  for (const key of keys) {
    if (key.state === 'retired' || key.activatesAt > now) continue;
    if (best === undefined || key.activatesAt > best.activatesAt || (key.activatesAt === best.activatesAt && key.state === 'active')) {
      best = key;
    }
  }
  return best ?? keys.find((key) => key.state === 'active');
}

// Token-signing keys as slots of the one rotation engine (rotation/plan.ts): the policy from
// configuration, and the storage edge. The database keeps the states it always stored (`next`,
// `active`, `retired`), and the admin API shows them; only the engine speaks of prepared and old.
//
// A key has no end of its own, so it rotates after `signing.rotationInterval`. Its removal time
// is fixed when it retires (`removeAt` = retirement + retention) and read back from the record:
// a retired key without removeAt was not retired by this code, and keeping it published is the
// safe side (an extra JWKS entry, never a token that stops verifying).

import type { Config } from '../config/config.ts';
import { nextPrepareAt } from '../rotation/plan.ts';
import type { RotationPolicy, Slot, SlotState } from '../rotation/plan.ts';
import type { SigningKeyRecord, SigningKeyState } from '../storage/records.ts';

const SLOT: Readonly<Record<SigningKeyState, SlotState>> = { next: 'prepared', active: 'active', retired: 'old' };

/** Keys always rotate after an interval. */
export type KeyRotationPolicy = Required<RotationPolicy>;

export function rotationPolicy(config: Pick<Config, 'signing' | 'tokens' | 'clockSkew'>): KeyRotationPolicy {
  return {
    rotationInterval: config.signing.rotationInterval * 1000,
    prePublication: config.signing.prePublication * 1000,
    retention: (config.tokens.maxLifetime + config.clockSkew) * 1000,
  };
}

/** A stored key as the planner sees it. */
export function keySlot(record: Pick<SigningKeyRecord, 'kid' | 'state' | 'activatesAt' | 'removeAt'>): Slot {
  const state = SLOT[record.state];
  return { id: record.kid, state, activatesAt: record.activatesAt, notAfter: state === 'old' ? (record.removeAt ?? Infinity) : Infinity };
}

/** When the scheduler will next create a signing key (GET /admin/v1/signing-keys `nextRotationAt`); null when none is scheduled. */
export function nextKeyRotationAt(
  records: readonly Pick<SigningKeyRecord, 'kid' | 'state' | 'activatesAt' | 'removeAt'>[],
  policy: KeyRotationPolicy,
): number | null {
  return nextPrepareAt(records.map(keySlot), policy);
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rotationPolicy } from '../../src/keys/rotation.ts';
import { planForcedRotation, planRotation, signingKeyAt, successorDueAt } from '../rotation/legacy-planners.ts';
import type { RotationPolicy } from '../rotation/legacy-planners.ts';
import { signingKeysSettings } from '../../src/keys/signing-keys.ts';
import type { SigningKeyRecord, SigningKeyState } from '../../src/storage/records.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const policy: RotationPolicy = { rotationInterval: 30 * DAY, prePublication: HOUR, retention: 25 * HOUR };
const T0 = Date.UTC(2030, 0, 1);

function key(kid: string, state: SigningKeyState, activatesAt: number, removeAt: number | null = null): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    state,
    publicJwk: '{}',
    sealedPrivateKey: 'v1.x.y.z',
    createdAt: activatesAt - HOUR,
    activatesAt,
    retiredAt: removeAt === null ? null : removeAt - policy.retention,
    removeAt,
  };
}

void describe('planRotation', () => {
  void it('creates a first key, active at once, when there are no keys', () => {
    assert.deepEqual(planRotation([], T0, policy), [{ step: 'create-first', activatesAt: T0 }]);
  });

  void it('creates a first key when only retired keys remain', () => {
    const keys = [key('old', 'retired', T0 - 40 * DAY, T0 + HOUR)];
    assert.deepEqual(planRotation(keys, T0, policy), [{ step: 'create-first', activatesAt: T0 }]);
  });

  void it('does nothing for an active key until its successor is due', () => {
    const active = key('a', 'active', T0);
    const due = T0 + policy.rotationInterval - policy.prePublication;
    assert.equal(successorDueAt(active, policy), due);
    assert.deepEqual(planRotation([active], due - 1, policy), []);
  });

  void it('prepares a successor exactly when due, published for the full window', () => {
    const due = T0 + policy.rotationInterval - policy.prePublication;
    assert.deepEqual(planRotation([key('a', 'active', T0)], due, policy), [{ step: 'prepare-next', activatesAt: due + policy.prePublication }]);
  });

  void it('gives a late successor the full pre-publication window from now', () => {
    const late = T0 + 45 * DAY;
    assert.deepEqual(planRotation([key('a', 'active', T0)], late, policy), [{ step: 'prepare-next', activatesAt: late + policy.prePublication }]);
  });

  void it('prepares no second successor while one is published', () => {
    const keys = [key('a', 'active', T0), key('n', 'next', T0 + 30 * DAY)];
    assert.deepEqual(planRotation(keys, T0 + 30 * DAY - 1, policy), []);
  });

  void it('promotes the next key exactly at its activatesAt and retires the active one', () => {
    const at = T0 + 30 * DAY;
    const keys = [key('a', 'active', T0), key('n', 'next', at)];
    assert.deepEqual(planRotation(keys, at - 1, policy), []);
    assert.deepEqual(planRotation(keys, at, policy), [{ step: 'promote', kid: 'n', retire: { kid: 'a', retiredAt: at, removeAt: at + policy.retention } }]);
  });

  void it('finishes a promotion that stopped after retiring the old key', () => {
    const at = T0 + 30 * DAY;
    const keys = [key('a', 'retired', T0, at + policy.retention), key('n', 'next', at)];
    assert.deepEqual(planRotation(keys, at + 5, policy), [{ step: 'promote', kid: 'n', retire: null }]);
  });

  void it('waits for a next key that is not due even when no key is active', () => {
    const keys = [key('n', 'next', T0 + HOUR)];
    assert.deepEqual(planRotation(keys, T0, policy), []);
  });

  void it('prepares the successor of a key it promotes late, after downtime', () => {
    const at = T0 + 30 * DAY;
    const now = at + 40 * DAY;
    const keys = [key('a', 'active', T0), key('n', 'next', at)];
    assert.deepEqual(planRotation(keys, now, policy), [
      { step: 'promote', kid: 'n', retire: { kid: 'a', retiredAt: now, removeAt: now + policy.retention } },
      { step: 'prepare-next', activatesAt: now + policy.prePublication },
    ]);
  });

  void it('removes a retired key exactly at its removeAt', () => {
    const removeAt = T0 + HOUR;
    const keys = [key('a', 'active', T0), key('r', 'retired', T0 - 30 * DAY, removeAt)];
    assert.deepEqual(planRotation(keys, removeAt - 1, policy), []);
    assert.deepEqual(planRotation(keys, removeAt, policy), [{ step: 'remove', kid: 'r', removeAt }]);
  });

  void it('keeps publishing a retired key with no removal time', () => {
    const keys = [key('a', 'active', T0), key('r', 'retired', T0 - 30 * DAY, null)];
    assert.deepEqual(planRotation(keys, T0 + DAY, policy), []);
  });
});

void describe('planForcedRotation', () => {
  void it('prepares a successor that signs only after the full pre-publication window', () => {
    assert.deepEqual(planForcedRotation([key('a', 'active', T0)], T0 + DAY, policy), {
      step: 'prepare-next',
      activatesAt: T0 + DAY + policy.prePublication,
    });
  });

  void it('reports the successor already published instead of adding one', () => {
    const keys = [key('a', 'active', T0), key('n', 'next', T0 + 30 * DAY)];
    assert.deepEqual(planForcedRotation(keys, T0 + 30 * DAY - 10, policy), {
      step: 'already-prepared',
      kid: 'n',
      activatesAt: T0 + 30 * DAY,
    });
  });
});

void describe('signingKeyAt', () => {
  const at = T0 + 30 * DAY;
  const keys = [key('a', 'active', T0), key('n', 'next', at)];

  void it('signs with the active key until the next key activates', () => {
    assert.equal(signingKeyAt(keys, at - 1)?.kid, 'a');
  });

  void it('switches to the next key at its activatesAt, before anyone promotes it', () => {
    assert.equal(signingKeyAt(keys, at)?.kid, 'n');
  });

  void it('never signs with a retired key', () => {
    assert.equal(signingKeyAt([key('r', 'retired', T0, at)], T0 + 1), undefined);
  });

  void it('falls back to the active key when this clock is behind the one that promoted it', () => {
    const promoted = [key('r', 'retired', T0, at + policy.retention), key('n', 'active', at)];
    assert.equal(signingKeyAt(promoted, at - 500)?.kid, 'n');
  });
});

void describe('rotationPolicy', () => {
  void it('converts the configured seconds to milliseconds and retains keys for a token lifetime plus skew', () => {
    const config = {
      signing: { alg: 'ES256' as const, rotationInterval: 86_400, prePublication: 3600, jwksMaxAge: 600, checkInterval: 30, thread: 'auto' as const },
      tokens: { defaultLifetime: 600, maxLifetime: 7200 },
      clockSkew: 60,
    };
    assert.deepEqual(rotationPolicy(config), {
      rotationInterval: DAY,
      prePublication: HOUR,
      retention: (7200 + 60) * 1000,
    });
    assert.equal(signingKeysSettings(config).checkIntervalMs, 30_000);
  });
});

// Builds SigningKeys instances over a fake store and a hand-driven clock.

import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import type { Sealer } from '../../src/keys/master-key.ts';
import type { KeyRotationPolicy } from '../../src/keys/rotation.ts';
import { SigningKeys } from '../../src/keys/signing-keys.ts';
import type { SigningKeyStore, SigningKeysLogger } from '../../src/keys/signing-keys.ts';
import type { SigningAlg } from '../../src/storage/records.ts';
import { FakeSigningKeyStore } from './fake-signing-key-store.ts';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const T0 = Date.UTC(2030, 0, 1);
export const policy: KeyRotationPolicy = { rotationInterval: 30 * DAY, prePublication: HOUR, retention: 25 * HOUR };

export interface Clock {
  now: number;
}

export interface Harness {
  clock: Clock;
  store: FakeSigningKeyStore;
  sealer: Sealer;
  instance(options?: {
    alg?: SigningAlg;
    sealer?: Sealer;
    store?: SigningKeyStore;
    logger?: SigningKeysLogger;
    checkIntervalMs?: number;
    rotates?: boolean;
  }): SigningKeys;
}

export function harness(): Harness {
  const clock: Clock = { now: T0 };
  const store = new FakeSigningKeyStore();
  const sealer = createSealer(generateMasterKey());
  return {
    clock,
    store,
    sealer,
    instance(options = {}) {
      return new SigningKeys({
        store: options.store ?? store,
        sealer: options.sealer ?? sealer,
        alg: options.alg ?? 'ES256',
        policy,
        now: () => clock.now,
        checkIntervalMs: options.checkIntervalMs ?? 30_000,
        logger: options.logger ?? { error: () => undefined },
        ...(options.rotates === undefined ? {} : { rotates: options.rotates }),
      });
    },
  };
}

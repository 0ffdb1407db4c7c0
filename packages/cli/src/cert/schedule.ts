// When `tessera cert --watch` acts: renewal at about two thirds of a certificate's lifetime,
// spread by jitter so a fleet started together does not renew together, and retries that back
// off. Time comes from the injected clock and timers, so tests move it by hand.

import type { SignalSource, Timers } from '../io.ts';

/** Renew once this share of the lifetime has passed: a third is left to ride out an outage. */
export const RENEWAL_POINT = 2 / 3;
/** The renewal point moves by up to this share of itself, either way: [0.6, 0.733…] of the lifetime. */
export const RENEWAL_JITTER = 0.1;

/** `random` in [0, 1); times in milliseconds since the epoch. */
export function renewalTime(notBefore: number, notAfter: number, random: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const share = RENEWAL_POINT * (1 + RENEWAL_JITTER * (2 * random - 1));
  return notBefore + Math.round(lifetime * share);
}

/**
 * The least time between a certificate arriving and its renewal. A certificate already past
 * its renewal point when it arrives (the CA capped it at its own expiry, or the clocks
 * disagree) would otherwise be renewed again at once, in a loop against the server.
 */
export const MIN_RENEWAL_GAP_MS = 60_000;

/** renewalTime for a certificate that has just arrived at `now`. */
export function nextRenewal(notBefore: number, notAfter: number, now: number, random: number): number {
  const floor = now + Math.min(MIN_RENEWAL_GAP_MS, Math.max(0, notAfter - now) / 2);
  return Math.max(renewalTime(notBefore, notAfter, random), Math.round(floor));
}

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 5 * 60_000;

/** Doubling from 1 s up to 5 min, each wait spread by ±20 % so failing clients do not retry in step. */
export function retryDelay(attempt: number, random: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(base * (0.8 + 0.4 * random));
}

/**
 * Waits are cut into pieces of at most this long, and the clock is read again after each: a
 * timer does not run while the machine sleeps, so one long timer would renew late after a
 * suspend. (It also stays below setTimeout's 2^31 ms limit.)
 */
export const MAX_TIMER_MS = 60 * 60_000;

export interface Sleeper {
  /** True once SIGINT or SIGTERM arrived. */
  readonly stopped: boolean;
  /** The signal that stopped it. */
  readonly signal: string | undefined;
  /** Resolves true when the time has come, false as soon as a signal arrives. */
  sleepUntil(time: number): Promise<boolean>;
  sleep(ms: number): Promise<boolean>;
  /** Removes the signal listeners and any pending timer. */
  dispose(): void;
}

export function createSleeper(signals: SignalSource, timers: Timers, now: () => number): Sleeper {
  let signal: string | undefined;
  let pending: { handle: unknown; wake: () => void } | undefined;

  const stopOn = (name: 'SIGINT' | 'SIGTERM') => (): void => {
    signal ??= name;
    const current = pending;
    pending = undefined;
    if (current !== undefined) {
      timers.clearTimeout(current.handle);
      current.wake();
    }
  };
  const onInt = stopOn('SIGINT');
  const onTerm = stopOn('SIGTERM');
  signals.once('SIGINT', onInt);
  signals.once('SIGTERM', onTerm);

  const wait = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (signal !== undefined) {
        resolve(false);
        return;
      }
      const wake = (): void => resolve(false);
      const handle = timers.setTimeout(() => {
        pending = undefined;
        resolve(signal === undefined);
      }, Math.max(0, ms));
      pending = { handle, wake };
    });

  const sleeper: Sleeper = {
    get stopped() {
      return signal !== undefined;
    },
    get signal() {
      return signal;
    },
    async sleepUntil(time) {
      for (let left = time - now(); left > 0; left = time - now()) {
        if (!(await wait(Math.min(left, MAX_TIMER_MS)))) return false;
      }
      return signal === undefined;
    },
    async sleep(ms) {
      for (let left = ms; left > 0; left -= MAX_TIMER_MS) {
        if (!(await wait(Math.min(left, MAX_TIMER_MS)))) return false;
      }
      return signal === undefined;
    },
    dispose() {
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
      if (pending !== undefined) timers.clearTimeout(pending.handle);
      pending = undefined;
    },
  };
  return sleeper;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

// What src/cert/schedule.ts was before `tessera cert --watch` ran the SDK's certificate refresher,
// which now schedules, retries and waits on the CLI's timers itself: the SDK's schedule with its
// default policy, and the CLI's old sleeper. Moved here unchanged because the "renewal schedule"
// tests of cert-watch.test.ts pin it; no command uses it, and it can go with those tests (the
// SDK's certificates-schedule tests cover the schedule).

import type { SignalSource, Timers } from '../../src/io.ts';
import { DEFAULT_POLICY, MAX_RETRY_MS, MAX_TIMER_MS, retryDelay as sdkRetryDelay, nextRenewal as sdkNextRenewal, renewalTime as sdkRenewalTime } from '@tessera/sdk';

export { MAX_RETRY_MS, MAX_TIMER_MS };

/** `random` in [0, 1); times in milliseconds since the epoch. */
export function renewalTime(notBefore: number, notAfter: number, random: number): number {
  return sdkRenewalTime(notBefore, notAfter, DEFAULT_POLICY, random);
}

/** renewalTime for a certificate that has just arrived at `now`, never less than a minute out (or half of what is left). */
export function nextRenewal(notBefore: number, notAfter: number, now: number, random: number): number {
  return sdkNextRenewal(notBefore, notAfter, now, DEFAULT_POLICY, random);
}

/**
 * The wait after failed attempt `attempt`: doubling from 1 s up to 5 min, ±20 %. With
 * `remainingMs` (what is left of the certificate) at most half of that, so attempts get denser as
 * its end nears; with `retryAfterMs` never shorter than the server asked.
 */
export function retryDelay(attempt: number, random: number, remainingMs = 0, retryAfterMs = 0): number {
  return sdkRetryDelay(attempt, random, remainingMs, retryAfterMs);
}

// Waits are cut into pieces of at most MAX_TIMER_MS and the clock is read again after each: a
// timer does not run while the machine sleeps, so one long timer would renew late after a suspend.

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

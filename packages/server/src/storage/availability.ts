// Storage failures reported as a few events, not one per failed call: the first failure says
// storage is failing, a summary follows at most every `summaryMs` while failures go on, and the
// first success after `quietMs` without a failure says it is back, how long it failed and how
// many calls failed. At thousands of requests a second, a log line per failed request would bury
// the one that matters and cost CPU while it lasts. Failures that leave other calls answering
// (a full disk fails writes while reads go on, a statement timeout) are one episode too: it ends
// only once calls have gone `quietMs` without failing.

import type { SqlDriver, SqlExecutor, SqlValue } from './drivers/driver.ts';
import { StorageUnavailableError } from './errors.ts';

export type AvailabilityEvent =
  | { state: 'failing'; at: number; error: StorageUnavailableError }
  | { state: 'still-failing'; at: number; since: number; failedCalls: number; error: StorageUnavailableError }
  | { state: 'recovered'; at: number; since: number; failedCalls: number };

export interface AvailabilityTimes {
  /** No failure for this long, then a success: recovered. */
  quietMs: number;
  /** While failing, a summary at most this often. */
  summaryMs: number;
}

export const AVAILABILITY_TIMES: AvailabilityTimes = { quietMs: 5000, summaryMs: 30_000 };

export class AvailabilityWatch {
  /** Start of the current episode of failures; null while storage answers. */
  #since: number | null = null;
  #lastFailureAt = 0;
  #lastReportAt = 0;
  #failedCalls = 0;
  readonly #listeners = new Set<(event: AvailabilityEvent) => void>();
  readonly #now: () => number;
  readonly #times: AvailabilityTimes;

  constructor(now: () => number = Date.now, times: AvailabilityTimes = AVAILABILITY_TIMES) {
    this.#now = now;
    this.#times = times;
  }

  /** False from a failure until a success after `quietMs` without failures. */
  get up(): boolean {
    return this.#since === null;
  }

  /** Called at each event; returns an unsubscribe function. */
  onChange(listener: (event: AvailabilityEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  succeeded(): void {
    if (this.#since === null) return;
    const at = this.#now();
    if (at - this.#lastFailureAt < this.#times.quietMs) return;
    const event: AvailabilityEvent = { state: 'recovered', at, since: this.#since, failedCalls: this.#failedCalls };
    this.#since = null;
    this.#failedCalls = 0;
    this.#emit(event);
  }

  failed(error: StorageUnavailableError): void {
    const at = this.#now();
    this.#failedCalls += 1;
    this.#lastFailureAt = at;
    if (this.#since === null) {
      this.#since = at;
      this.#lastReportAt = at;
      this.#emit({ state: 'failing', at, error });
    } else if (at - this.#lastReportAt >= this.#times.summaryMs) {
      this.#lastReportAt = at;
      this.#emit({ state: 'still-failing', at, since: this.#since, failedCalls: this.#failedCalls, error });
    }
  }

  #emit(event: AvailabilityEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener (a log line, a counter) must not turn a storage answer into an error.
      }
    }
  }
}

/** `driver`, with every call's outcome told to `watch`. */
export function watchedDriver(driver: SqlDriver, watch: AvailabilityWatch): SqlDriver {
  const observe = <T>(call: Promise<T>): Promise<T> =>
    call.then(
      (value) => {
        if (!watch.up) watch.succeeded();
        return value;
      },
      (error: unknown) => {
        if (error instanceof StorageUnavailableError) watch.failed(error);
        throw error;
      },
    );
  return {
    dialect: driver.dialect,
    all: <T>(sql: string, params?: readonly SqlValue[]) => observe(driver.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly SqlValue[]) => observe(driver.get<T>(sql, params)),
    run: (sql: string, params?: readonly SqlValue[]) => observe(driver.run(sql, params)),
    exec: (sql: string) => observe(driver.exec(sql)),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>, options?: { durability?: 'full' | 'relaxed' }) => observe(driver.transaction(fn, options)),
    close: () => driver.close(),
  };
}

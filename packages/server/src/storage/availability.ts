// A storage outage reported as two events, not one per failed call: the first failure after a
// success says the database went away, the first success after failures says it is back, how
// long it was gone and how many calls failed meanwhile. At thousands of requests a second, a
// log line per failed request would bury the one that matters, and cost CPU when it is short.

import type { SqlDriver, SqlExecutor, SqlValue } from './drivers/driver.ts';
import { StorageUnavailableError } from './errors.ts';

export type AvailabilityEvent =
  | { up: false; at: number; error: StorageUnavailableError }
  | { up: true; at: number; downSince: number; failedCalls: number };

export class AvailabilityWatch {
  #downSince: number | null = null;
  #failedCalls = 0;
  readonly #listeners = new Set<(event: AvailabilityEvent) => void>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get up(): boolean {
    return this.#downSince === null;
  }

  /** Called at each change of state; returns an unsubscribe function. */
  onChange(listener: (event: AvailabilityEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  succeeded(): void {
    if (this.#downSince === null) return;
    const event: AvailabilityEvent = { up: true, at: this.#now(), downSince: this.#downSince, failedCalls: this.#failedCalls };
    this.#downSince = null;
    this.#failedCalls = 0;
    this.#emit(event);
  }

  failed(error: StorageUnavailableError): void {
    this.#failedCalls += 1;
    if (this.#downSince !== null) return;
    this.#downSince = this.#now();
    this.#emit({ up: false, at: this.#downSince, error });
  }

  #emit(event: AvailabilityEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener (a log line, a gauge) must not turn a storage answer into an error.
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

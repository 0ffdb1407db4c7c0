// Audit events written in batches, off the token path: a token request only appends to a
// buffer, and the buffer goes to the store every `intervalMs` or as soon as `batchSize` events
// wait, whichever comes first, one transaction per batch. Admin changes do not come this way:
// the store writes their audit in the same transaction as the change.
//
// If the store is down the buffer keeps the events and retries; it holds at most `maxBuffered`,
// dropping the oldest beyond that (counted, and logged when the store answers again), so an
// outage costs audit records rather than memory. One line when the store starts refusing and one
// when it answers again, not one per retry. `close()` writes what is left, so a clean shutdown
// loses nothing that was answered.

import { InvalidValueError } from '../storage/errors.ts';
import type { AuditEvent, CallerCount, TokenRateCount } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';

export type NewAuditEvent = Omit<AuditEvent, 'id'>;

/** Where observers put audit events; never throws and never waits. */
export interface AuditSink {
  write(event: NewAuditEvent): void;
}

export interface AuditBatchWriter extends AuditSink {
  /** Writes everything buffered; rejects when the store refused some of it (they stay buffered). */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left; later writes are dropped. Never rejects. */
  close(): Promise<void>;
  readonly buffered: number;
  /** Events lost so far, to overflow while the store was down or to a failed final flush. */
  readonly dropped: number;
}

/** The pino methods the guards use (pino's Logger and Fastify's logger both fit). */
export interface GuardLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface AuditBatchWriterOptions {
  store: Pick<Store, 'appendAuditBatch'>;
  log: GuardLog;
  /** Sums written with each batch, in its transaction (who calls whom: guards/token-callers.ts). */
  callers?: (events: readonly NewAuditEvent[]) => CallerCount[];
  /** Sums written with each batch, in its transaction (token rates: guards/token-rates.ts). */
  tokenRates?: (events: readonly NewAuditEvent[]) => TokenRateCount[];
  batchSize?: number;
  intervalMs?: number;
  maxBuffered?: number;
  /** Told how many events were just dropped (for metrics). */
  onDrop?: (count: number) => void;
}

export const AUDIT_BATCH_DEFAULTS = { batchSize: 500, intervalMs: 500, maxBuffered: 20_000 } as const;

export function createAuditBatchWriter(options: AuditBatchWriterOptions): AuditBatchWriter {
  const batchSize = options.batchSize ?? AUDIT_BATCH_DEFAULTS.batchSize;
  const intervalMs = options.intervalMs ?? AUDIT_BATCH_DEFAULTS.intervalMs;
  const maxBuffered = Math.max(batchSize, options.maxBuffered ?? AUDIT_BATCH_DEFAULTS.maxBuffered);
  let buffer: NewAuditEvent[] = [];
  let dropped = 0;
  let closed = false;
  let closing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let timerIsImmediate = false;
  let draining: Promise<void> | null = null;
  let lastError: unknown = null;

  const drop = (count: number): void => {
    if (count <= 0) return;
    dropped += count;
    options.onDrop?.(count);
  };

  const trim = (): void => {
    const excess = buffer.length - maxBuffered;
    if (excess > 0) {
      buffer.splice(0, excess);
      drop(excess);
    }
  };

  const arm = (delayMs: number): void => {
    if (closed) return;
    if (timer !== null) {
      if (delayMs > 0 || timerIsImmediate) return;
      clearTimeout(timer);
    }
    timerIsImmediate = delayMs === 0;
    // A timer, not a direct call: the store's first synchronous work (SQLite is synchronous)
    // must not run inside the request that filled the batch.
    timer = setTimeout(() => {
      timer = null;
      drain(false).catch(() => undefined);
    }, delayMs);
    timer.unref();
  };

  const append = (events: readonly NewAuditEvent[]): Promise<void> =>
    options.store.appendAuditBatch(events, options.callers?.(events) ?? [], options.tokenRates?.(events) ?? []);

  /** One batch; on failure the events go back to the front of the buffer, in order. */
  const writeBatch = async (): Promise<boolean> => {
    const batch = buffer.slice(0, batchSize);
    buffer = buffer.slice(batch.length);
    try {
      await append(batch);
      if (lastError !== null)
        options.log.warn(
          { buffered: buffer.length, dropped },
          `audit store answering again: writing the ${buffer.length + batch.length} waiting token audit events (${dropped} dropped so far)`,
        );
      lastError = null;
      return true;
    } catch (error) {
      // A value the store can never take would block every later event behind it, retried
      // forever: write the batch's events one by one and drop only the ones refused.
      if (error instanceof InvalidValueError) return writeOneByOne(batch);
      // Logged when the store starts refusing, not at every retry (every `intervalMs`).
      const first = lastError === null;
      lastError = error;
      buffer = batch.concat(buffer);
      trim();
      if (first)
        options.log.warn(
          { err: error, buffered: buffer.length, dropped },
          `audit store unavailable: ${buffer.length} token audit events wait in memory (at most ${maxBuffered}; ${dropped} dropped so far)`,
        );
      return false;
    }
  };

  const writeOneByOne = async (batch: readonly NewAuditEvent[]): Promise<boolean> => {
    for (const event of batch) {
      try {
        await append([event]);
      } catch (error) {
        if (!(error instanceof InvalidValueError)) {
          buffer = batch.slice(batch.indexOf(event)).concat(buffer);
          trim();
          lastError = error;
          return false;
        }
        drop(1);
        options.log.error({ err: error, type: event.type }, 'an audit event the store cannot take was dropped');
      }
    }
    lastError = null;
    return true;
  };

  /**
   * Writes batches until the buffer is empty, or (`all` false: the timer's drain) until fewer
   * than a batch wait: those wait for the next interval rather than follow at once, so a busy
   * token endpoint writes a few full batches a second, not one small batch per commit.
   */
  const drain = (all = true): Promise<void> => {
    if (draining !== null) return draining;
    // With nothing to write, the body below would finish (and clear `draining`) before the
    // assignment, leaving a settled promise behind: every later write would wait on it forever.
    if (buffer.length === 0) return Promise.resolve();
    draining = (async () => {
      try {
        while (buffer.length > 0 && (await writeBatch()) && (all || buffer.length >= batchSize));
      } finally {
        draining = null;
        if (buffer.length > 0) arm(intervalMs);
      }
    })();
    return draining;
  };

  const flush = async (): Promise<void> => {
    // A drain already under way may have started before the newest events: wait, then drain again.
    await drain();
    if (buffer.length > 0) await drain();
    if (buffer.length > 0) throw new Error(`${buffer.length} audit events could not be written`, { cause: lastError });
  };

  return {
    get buffered() {
      return buffer.length;
    },
    get dropped() {
      return dropped;
    },
    write(event) {
      if (closed) {
        drop(1);
        return;
      }
      buffer.push(event);
      trim();
      if (draining) return;
      arm(buffer.length >= batchSize ? 0 : intervalMs);
    },
    flush,
    close() {
      closing ??= (async () => {
        closed = true;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        try {
          await flush();
        } catch (error) {
          options.log.error(
            { err: error, lost: buffer.length },
            `${buffer.length} token audit events were lost at shutdown: the audit store did not accept them`,
          );
          drop(buffer.length);
          buffer = [];
        }
      })();
      return closing;
    },
  };
}

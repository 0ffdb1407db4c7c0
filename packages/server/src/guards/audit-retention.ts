// How long each kind of audit event is kept (`audit.retention.*`): the token endpoint's events
// one per request, the summaries and alerts, and everything else (admin changes, rotations,
// certificates), which an investigation needs longest; and the hourly sums of who calls whom and of the token rates. A background check prunes what is older,
// in bounded batches so that no statement runs long on a big table, and stops for the run once
// `maxBatchesPerRun` batches went (the next run carries on). Several instances on one
// PostgreSQL may prune at once: a row another deleted first is skipped, and nothing is lost
// that was not due.

import type { Config } from '../config/config.ts';
import { periodicCheck } from '../lib/periodic-check.ts';
import type { AuditSelection } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { ALERT_TYPE } from './auth-failures.ts';
import { SUMMARY_TYPE } from './refusal-summary.ts';
import { TOKEN_EVENT_TYPES } from './token-audit.ts';

export const AUDIT_RETENTION_DEFAULTS = { intervalMs: 10 * 60_000, batchSize: 1000, maxBatchesPerRun: 100 } as const;

const SUMMARY_TYPES = [SUMMARY_TYPE, ALERT_TYPE] as const;

/** Each retention setting and the events it keeps. */
export const AUDIT_KINDS: readonly { kind: Exclude<keyof Config['audit']['retention'], 'callers'>; selection: AuditSelection }[] = [
  { kind: 'tokenEvents', selection: { types: TOKEN_EVENT_TYPES } },
  { kind: 'summaries', selection: { types: SUMMARY_TYPES } },
  { kind: 'adminEvents', selection: { allBut: [...TOKEN_EVENT_TYPES, ...SUMMARY_TYPES] } },
];

export interface AuditRetentionDeps {
  store: Pick<Store, 'pruneAudit' | 'pruneCallers' | 'pruneTokenRates'>;
  /** Seconds per kind; 0 keeps that kind forever. */
  retention: Config['audit']['retention'];
  now: () => number;
  log: { info(details: object, message: string): void; error(details: object, message: string): void };
  intervalMs?: number;
  batchSize?: number;
  maxBatchesPerRun?: number;
}

export interface AuditRetention {
  /** Prunes what is due now, up to the per-run bound; resolves to how many events went, per kind. */
  prune(): Promise<Record<string, number>>;
  /** Prunes once soon after start, then every interval. */
  start(): void;
  /** Stops the timers and waits for a run in progress. */
  stop(): Promise<void>;
}

export function createAuditRetention(deps: AuditRetentionDeps): AuditRetention {
  const batchSize = deps.batchSize ?? AUDIT_RETENTION_DEFAULTS.batchSize;
  const maxBatches = deps.maxBatchesPerRun ?? AUDIT_RETENTION_DEFAULTS.maxBatchesPerRun;
  const prune = async (): Promise<Record<string, number>> => {
    const now = deps.now();
    const pruned: Record<string, number> = {};
    let batches = 0;
    for (const { kind, selection } of AUDIT_KINDS) {
      const keepSeconds = deps.retention[kind];
      if (keepSeconds === 0) continue;
      pruned[kind] = 0;
      for (;;) {
        if (batches >= maxBatches) break;
        batches += 1;
        const count = await deps.store.pruneAudit(selection, now - keepSeconds * 1000, batchSize);
        pruned[kind] += count;
        if (count < batchSize) break;
      }
    }
    // Who calls whom and the token rates: hourly sums, not events, under their own setting.
    if (deps.retention.callers !== 0) {
      for (const [kind, pruneSums] of [
        ['callers', (before: number) => deps.store.pruneCallers(before, batchSize)],
        ['tokenRates', (before: number) => deps.store.pruneTokenRates(before, batchSize)],
      ] as const) {
        pruned[kind] = 0;
        while (batches < maxBatches) {
          batches += 1;
          const count = await pruneSums(now - deps.retention.callers * 1000);
          pruned[kind] += count;
          if (count < batchSize) break;
        }
      }
    }
    const total = Object.values(pruned).reduce((sum, count) => sum + count, 0);
    if (total > 0) deps.log.info({ pruned }, `pruned ${total} audit events and hourly sums (callers, token rates) past their retention`);
    return pruned;
  };
  const onError = (error: unknown): void => deps.log.error({ err: error }, 'audit pruning failed; it is retried at the next check');
  // One run at a time, whichever timer asks; stop() waits for it, so the store outlives it.
  let running: Promise<unknown> | null = null;
  const run = (): Promise<unknown> => (running ??= prune().finally(() => (running = null)));
  const check = periodicCheck(async () => void (await run()), deps.intervalMs ?? AUDIT_RETENTION_DEFAULTS.intervalMs, onError);
  let first: NodeJS.Timeout | null = null;
  return {
    prune,
    start() {
      check.start();
      // A server restarted more often than the interval would otherwise never prune.
      first ??= setTimeout(() => void run().catch(onError), 5000).unref();
    },
    async stop() {
      check.stop();
      if (first !== null) clearTimeout(first);
      await running?.catch(() => undefined);
    },
  };
}

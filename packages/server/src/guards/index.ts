// The guards of every client request (token, introspection, revocation), built from the Config:
// rate limits (a gate, per address before client authentication and per proven client after
// it), the audit (each proven client's request, summaries of the refusals before
// authentication) and the auth-failure alerts (observers), the audit's retention, and the
// metrics that show them working. server.ts plugs these into the client guard and closes them
// on shutdown, after the last request and before the store.

import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import type { TokenGate, TokenObserver } from '../oauth2/client-guard.ts';
import type { Store } from '../storage/store.ts';
import { createAuditBatchWriter, type AuditBatchWriter, type GuardLog } from './audit-writer.ts';
import { createAuditRetention } from './audit-retention.ts';
import { createAuthFailureAlerts } from './auth-failures.ts';
import { createRateLimitGate } from './rate-limit.ts';
import { createRefusalSummaries } from './refusal-summary.ts';
import { tokenAuditObserver } from './token-audit.ts';
import { callerCounts } from './token-callers.ts';
import { tokenRateCounts } from './token-rates.ts';
import { workerShare, type WorkerSlot } from './worker-share.ts';

export interface TokenGuards {
  gates: TokenGate[];
  observers: TokenObserver[];
  /** The batch writer behind the token audit. */
  audit: AuditBatchWriter;
  /** Writes the refusal summaries so far and the buffered audit now (tests, before reading the audit). */
  flush(): Promise<void>;
  /** Starts pruning the audit past its retention (when the server starts listening). */
  start(): void;
  /** Stops pruning, waits for alert webhooks in flight, then writes the summaries and the buffered audit. Never rejects. */
  close(): Promise<void>;
}

export interface TokenGuardDeps {
  config: Pick<Config, 'rateLimits' | 'alerts' | 'issuer' | 'audit'>;
  store: Pick<Store, 'appendAuditBatch' | 'pruneAudit' | 'pruneCallers' | 'pruneTokenRates'>;
  log: GuardLog & { info(details: object, message: string): void };
  now: () => number;
  metrics: Registry;
  /** Set in a worker of a round-robin cluster: it enforces its share of the budgets (guards/worker-share.ts). */
  slot?: WorkerSlot;
}

export function createTokenGuards(deps: TokenGuardDeps): TokenGuards {
  const rateLimited = new Counter({
    name: 'tessera_token_rate_limited_total',
    help: 'Token requests refused by a rate limit (AUTH_106), by the limit that refused them',
    labelNames: ['limit'],
    registers: [deps.metrics],
  });
  const auditDropped = new Counter({
    name: 'tessera_audit_events_dropped_total',
    help: 'Token audit events lost because the audit store did not accept them in time',
    registers: [deps.metrics],
  });

  const audit = createAuditBatchWriter({
    store: deps.store,
    log: deps.log,
    callers: callerCounts,
    tokenRates: tokenRateCounts,
    onDrop: (count) => auditDropped.inc(count),
  });
  const share = workerShare(deps.config, deps.slot);
  const alerts = createAuthFailureAlerts({ ...share.alerts, audit, log: deps.log, source: deps.config.issuer });
  const rateLimit = createRateLimitGate(share.rateLimits, {
    onLimited: (limit) => rateLimited.inc({ limit }),
    announced: deps.config.rateLimits,
  });
  const summaries = createRefusalSummaries({ audit, intervalMs: deps.config.audit.summaryInterval * 1000 });
  const retention = createAuditRetention({ store: deps.store, retention: deps.config.audit.retention, now: deps.now, log: deps.log });
  return {
    gates: rateLimit ? [rateLimit] : [],
    observers: [tokenAuditObserver(audit), summaries, alerts],
    audit,
    async flush() {
      summaries.flush();
      await audit.flush();
    },
    start: () => retention.start(),
    async close() {
      await retention.stop();
      await alerts.close();
      summaries.close();
      await audit.close();
    },
  };
}

// The token endpoint's guards, built from the Config: rate limits (a gate, per address before
// client authentication and per proven client after it), the audit of every token request and
// the auth-failure alerts (observers), and the metrics that show them working. server.ts plugs
// these into the token service and closes them on shutdown, after the last request and before
// the store.

import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import type { TokenGate, TokenObserver } from '../oauth2/token-service.ts';
import type { Store } from '../storage/store.ts';
import { createAuditBatchWriter, type AuditBatchWriter, type GuardLog } from './audit-writer.ts';
import { createAuthFailureAlerts } from './auth-failures.ts';
import { createRateLimitGate } from './rate-limit.ts';
import { tokenAuditObserver } from './token-audit.ts';

export interface TokenGuards {
  gates: TokenGate[];
  observers: TokenObserver[];
  /** The batch writer behind the token audit (tests flush it before reading the audit). */
  audit: AuditBatchWriter;
  /** Waits for alert webhooks in flight, then writes the buffered audit. Never rejects. */
  close(): Promise<void>;
}

export interface TokenGuardDeps {
  config: Pick<Config, 'rateLimits' | 'alerts' | 'issuer'>;
  store: Pick<Store, 'appendAuditBatch'>;
  log: GuardLog;
  metrics: Registry;
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

  const audit = createAuditBatchWriter({ store: deps.store, log: deps.log, onDrop: (count) => auditDropped.inc(count) });
  const alerts = createAuthFailureAlerts({ ...deps.config.alerts, audit, log: deps.log, source: deps.config.issuer });
  const rateLimit = createRateLimitGate(deps.config.rateLimits, { onLimited: (limit) => rateLimited.inc({ limit }) });
  return {
    gates: rateLimit ? [rateLimit] : [],
    observers: [tokenAuditObserver(audit), alerts],
    audit,
    async close() {
      await alerts.close();
      await audit.close();
    },
  };
}

// Alerts on bursts of failed client authentication (AUTH_101): someone guessing secrets, or a
// service deployed with a stale one. Failures are counted per claimed client id and per source
// address (an IPv6 one by its /64, as every per-address limit counts it) in a fixed window that
// opens at the first failure; reaching the threshold within it raises one alert for that key and
// window, as an audit event, a warn log line and, when configured, a JSON POST to a webhook.
//
// The observer runs on the token path, so everything slow happens later: the audit event goes
// into the batch writer's buffer, and the webhook is posted from a later turn of the event
// loop with a timeout, its failures logged, never retried.

import type { TokenObserver, TokenOutcome } from '../oauth2/token-service.ts';
import type { AuditSink, GuardLog } from './audit-writer.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import { MAX_IP_LENGTH, MAX_KEY_LENGTH, clip } from './caller-text.ts';
import { RecentKeys } from './recent-keys.ts';

export const ALERT_TYPE = 'alert.auth-failures';

export interface AuthFailureAlertOptions {
  failureThreshold: number;
  /** Seconds. */
  failureWindow: number;
  webhookUrl: string | null;
  audit: AuditSink;
  log: GuardLog;
  /** Names this server in webhook payloads (the issuer). */
  source: string;
  /** Per kind of key; beyond it the least recently failing key is forgotten. */
  maxKeys?: number;
  webhookTimeoutMs?: number;
  /** Webhook posts in flight beyond this are skipped (and logged): a flood must not pile up sockets. */
  maxPendingWebhooks?: number;
}

export interface AuthFailureAlerts extends TokenObserver {
  readonly trackedKeys: { client: number; ip: number };
  /** Waits for webhook posts in flight (each ends within its timeout). */
  close(): Promise<void>;
}

export interface AuthFailureAlert {
  type: typeof ALERT_TYPE;
  source: string;
  at: string;
  /** The client id, or `ip:<address>` (for an IPv6 caller, `ip:<its /64>`, e.g. `ip:2001:db8:1:2::/64`). */
  target: string;
  count: number;
  /** Seconds. */
  window: number;
  clientIp?: string;
}

interface FailureWindow {
  openedAt: number;
  count: number;
}

export const AUTH_FAILURE_DEFAULTS = { maxKeys: 50_000, webhookTimeoutMs: 2000, maxPendingWebhooks: 64 } as const;

export function createAuthFailureAlerts(options: AuthFailureAlertOptions): AuthFailureAlerts {
  const windowMs = options.failureWindow * 1000;
  const maxKeys = options.maxKeys ?? AUTH_FAILURE_DEFAULTS.maxKeys;
  const maxPending = options.maxPendingWebhooks ?? AUTH_FAILURE_DEFAULTS.maxPendingWebhooks;
  const byClient = new RecentKeys<FailureWindow>({ maxKeys, idleMs: windowMs });
  const byIp = new RecentKeys<FailureWindow>({ maxKeys, idleMs: windowMs });
  const pending = new Set<Promise<void>>();

  /** True exactly once per window: when this failure makes the count reach the threshold. */
  const count = (keys: RecentKeys<FailureWindow>, key: string, now: number): boolean => {
    const window = keys.touch(key, now, () => ({ openedAt: now, count: 0 }));
    if (now - window.openedAt >= windowMs) {
      window.openedAt = now;
      window.count = 0;
    }
    window.count += 1;
    return window.count === options.failureThreshold;
  };

  const raise = (outcome: TokenOutcome, target: string, clientIp: string | undefined): void => {
    const after = { count: options.failureThreshold, window: options.failureWindow, ...(clientIp === undefined ? {} : { clientIp }) };
    options.audit.write({ at: outcome.at, actor: 'system', type: ALERT_TYPE, target, before: null, after });
    options.log.warn(
      { alert: ALERT_TYPE, target, ...after },
      `${options.failureThreshold} failed client authentications for ${target} within ${options.failureWindow} s`,
    );
    if (options.webhookUrl !== null) {
      post(options.webhookUrl, { type: ALERT_TYPE, source: options.source, at: new Date(outcome.at).toISOString(), target, ...after });
    }
  };

  const post = (url: string, alert: AuthFailureAlert): void => {
    // Webhook URLs often carry a credential in the path (Slack, Teams): logs name the origin only.
    const where = new URL(url).origin;
    if (pending.size >= maxPending) {
      options.log.warn({ alert: ALERT_TYPE, target: alert.target, webhook: where }, `alert webhook skipped: ${pending.size} posts are still in flight`);
      return;
    }
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alert),
          signal: AbortSignal.timeout(options.webhookTimeoutMs ?? AUTH_FAILURE_DEFAULTS.webhookTimeoutMs),
        }),
      )
      .then(async (response) => {
        await response.body?.cancel();
        if (!response.ok)
          options.log.warn({ alert: ALERT_TYPE, webhook: where, status: response.status }, `alert webhook at ${where} answered ${response.status}`);
      })
      .catch((error: unknown) => {
        // The message and code only: the error object could carry the whole URL.
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        const reason = `${(error as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`;
        options.log.warn({ alert: ALERT_TYPE, webhook: where, reason }, `alert webhook at ${where} failed: ${reason}`);
      })
      .finally(() => pending.delete(done));
    pending.add(done);
  };

  return {
    get trackedKeys() {
      return { client: byClient.size, ip: byIp.size };
    },
    observe(outcome) {
      if (outcome.result !== 'AUTH_101') return;
      try {
        const clientIp = clip(outcome.clientIp, MAX_IP_LENGTH);
        if (outcome.claimedClientId !== undefined && count(byClient, outcome.claimedClientId, outcome.at)) {
          raise(outcome, clip(outcome.claimedClientId, MAX_KEY_LENGTH), clientIp);
        }
        const source = addressKey(clientIp);
        if (count(byIp, source, outcome.at)) raise(outcome, `ip:${source}`, undefined);
      } catch (error) {
        // An observer must never turn a refusal into a server error.
        options.log.error({ err: error }, 'auth-failure alert could not be raised');
      }
    },
    async close() {
      await Promise.allSettled([...pending]);
    },
  };
}

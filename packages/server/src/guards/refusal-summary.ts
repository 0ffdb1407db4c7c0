// Requests refused before the caller proved anything (a wrong or missing secret, a 429 from the
// address limit, storage down during authentication) are summed up, not stored one by one: one
// audit row per endpoint, address and reason for each interval, holding the count, the first and
// last time and a few of the client ids claimed. A stranger's flood then costs a few rows a
// minute instead of a row per request, while an operator still sees who hammered what
// (`GET /admin/v1/audit?type=token.refused.summary`, or `principal=ip:<address>`).
//
// Addresses are counted as every per-address limit counts them (policy/ip-ranges.ts
// `addressKey`): an IPv6 caller by its /64, so one that rotates through its prefix still makes
// one row, which holds a few of the addresses seen. Memory is bounded too: past `maxKeys`
// addresses in one interval, the rest are summed under the address `*`, so made-up
// X-Forwarded-For values from a trusted proxy cannot grow it.

import type { TokenObserver, TokenOutcome } from '../oauth2/client-guard.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import type { AuditSink } from './audit-writer.ts';
import { MAX_IP_LENGTH, MAX_KEY_LENGTH, clip } from './caller-text.ts';

export const SUMMARY_TYPE = 'token.refused.summary';
/** The address under which refusals beyond `maxKeys` addresses in one interval are summed. */
export const OTHER_ADDRESSES = '*';

export const REFUSAL_SUMMARY_DEFAULTS = { maxKeys: 1_000, samples: 3 } as const;

export interface RefusalSummaryOptions {
  audit: AuditSink;
  /** Milliseconds between summaries. */
  intervalMs: number;
  maxKeys?: number;
}

export interface RefusalSummaries extends TokenObserver {
  /** Writes the summaries of the interval so far to the audit sink now. */
  flush(): void;
  /** Stops the timer and writes what is left. */
  close(): void;
  readonly trackedKeys: number;
}

interface Summary {
  endpoint: TokenOutcome['endpoint'];
  /** The address as the limits count it: an IPv4 address, or an IPv6 /64. */
  clientIp: string;
  /** A few of the addresses seen under it. */
  addresses: string[];
  result: string;
  status: number;
  count: number;
  from: number;
  to: number;
  clientIds: string[];
}

/** Whether an outcome is a refusal before the caller proved who it is: summed up, not stored alone. */
export function refusedBeforeAuthentication(outcome: TokenOutcome): boolean {
  return outcome.principal === undefined && outcome.status !== 200;
}

export function createRefusalSummaries(options: RefusalSummaryOptions): RefusalSummaries {
  const maxKeys = options.maxKeys ?? REFUSAL_SUMMARY_DEFAULTS.maxKeys;
  let summaries = new Map<string, Summary>();

  const flush = (): void => {
    const done = summaries;
    summaries = new Map();
    for (const summary of done.values()) {
      options.audit.write({
        at: summary.to,
        actor: 'system',
        type: SUMMARY_TYPE,
        target: `ip:${summary.clientIp}`,
        before: null,
        after: { ...summary },
      });
    }
  };
  const timer = setInterval(flush, options.intervalMs);
  timer.unref();

  return {
    get trackedKeys() {
      return summaries.size;
    },
    observe(outcome) {
      if (!refusedBeforeAuthentication(outcome)) return;
      let clientIp = clip(addressKey(outcome.clientIp), MAX_IP_LENGTH);
      let key = `${outcome.endpoint} ${outcome.result} ${clientIp}`;
      if (!summaries.has(key) && summaries.size >= maxKeys) {
        clientIp = OTHER_ADDRESSES;
        key = `${outcome.endpoint} ${outcome.result} ${clientIp}`;
      }
      let summary = summaries.get(key);
      if (summary === undefined) {
        const { endpoint, result, status, at } = outcome;
        summary = { endpoint, clientIp, addresses: [], result, status, count: 0, from: at, to: at, clientIds: [] };
        summaries.set(key, summary);
      }
      summary.count += 1;
      summary.from = Math.min(summary.from, outcome.at);
      summary.to = Math.max(summary.to, outcome.at);
      addSample(summary.addresses, clip(outcome.clientIp, MAX_IP_LENGTH));
      addSample(summary.clientIds, clip(outcome.claimedClientId, MAX_KEY_LENGTH));
    },
    flush,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}

function addSample(samples: string[], value: string | undefined): void {
  if (value !== undefined && samples.length < REFUSAL_SUMMARY_DEFAULTS.samples && !samples.includes(value)) samples.push(value);
}

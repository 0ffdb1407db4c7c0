// Token rates, counted from the token audit as it is written: per hour and client endpoint, the
// tokens issued (`token.issued`, new or handed out again) and the refusals by their error code —
// after authentication one `token.refused`, `introspect.refused` or `revoke.refused` event each
// (guards/token-audit.ts), before it the count of a `token.refused.summary` (guards/refusal-summary.ts),
// counted in the hour the summary was written. Like who calls whom (guards/token-callers.ts), the
// batch writer hands each batch's counts to the store with the batch, and the admin API's token
// rates read the sums, never the audit rows.

import type { TokenRateCount, TokenRateEndpoint } from '../storage/records.ts';
import type { NewAuditEvent } from './audit-writer.ts';
import { SUMMARY_TYPE } from './refusal-summary.ts';
import { HOUR_MS } from './token-callers.ts';

/** The outcome counted when a token is issued; anything else is a refusal's code. */
export const ISSUED = 'issued';
/** Longest outcome kept: error codes are short; anything longer is cut. */
const MAX_OUTCOME_LENGTH = 64;

const REFUSED: Readonly<Record<string, TokenRateEndpoint>> = { 'token.refused': 'token', 'introspect.refused': 'introspect', 'revoke.refused': 'revoke' };
const ENDPOINTS: ReadonlySet<string> = new Set<TokenRateEndpoint>(['token', 'introspect', 'revoke']);

export function tokenRateCounts(events: readonly NewAuditEvent[]): TokenRateCount[] {
  const counts = new Map<string, TokenRateCount>();
  const add = (at: number, endpoint: TokenRateEndpoint, outcome: string, count: number): void => {
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    const key = `${hour} ${endpoint} ${outcome}`;
    const existing = counts.get(key);
    if (existing === undefined) counts.set(key, { hour, endpoint, outcome, count });
    else existing.count += count;
  };
  for (const event of events) {
    const after = typeof event.after === 'object' && event.after !== null ? (event.after as Record<string, unknown>) : {};
    if (event.type === 'token.issued') {
      add(event.at, 'token', ISSUED, 1);
      continue;
    }
    const endpoint = REFUSED[event.type];
    if (endpoint !== undefined) {
      add(event.at, endpoint, outcomeOf(after['result']), 1);
    } else if (event.type === SUMMARY_TYPE) {
      const { endpoint: summarized, count } = after;
      if (typeof summarized !== 'string' || !ENDPOINTS.has(summarized)) continue;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0) continue;
      add(event.at, summarized as TokenRateEndpoint, outcomeOf(after['result']), count);
    }
  }
  return [...counts.values()];
}

function outcomeOf(result: unknown): string {
  // A refusal is never counted as issued, whatever its result says.
  if (typeof result !== 'string' || result === '' || result === ISSUED) return 'unknown';
  return result.slice(0, MAX_OUTCOME_LENGTH);
}

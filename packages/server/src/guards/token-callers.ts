// Who calls whom, counted from the token audit as it is written: each `token.issued` event (a
// new token or one handed out again) adds one to every domain its granted scope names, under the
// token's subject, the client that got it for the subject ('' when the subject asked for itself)
// and the roles it got there, in the hour it was issued. The batch writer hands the counts of
// each batch to the store with the batch (guards/audit-writer.ts, storage/sql/callers.ts), so
// the token path does no more than it did for the audit, and the admin API's callers lists read
// the sums, never the audit rows.

import type { CallerCount } from '../storage/records.ts';
import type { NewAuditEvent } from './audit-writer.ts';

export const HOUR_MS = 3_600_000;

interface IssuedDetails {
  grantedScope?: unknown;
  subject?: unknown;
}

export function callerCounts(events: readonly NewAuditEvent[]): CallerCount[] {
  const counts = new Map<string, CallerCount>();
  // A batch holds a few distinct granted scopes many times over: each is taken apart once.
  const parsed = new Map<string, Map<string, string>>();
  for (const event of events) {
    if (event.type !== 'token.issued' || typeof event.after !== 'object' || event.after === null) continue;
    const details = event.after as IssuedDetails;
    if (typeof details.grantedScope !== 'string') continue;
    const actor = typeof details.subject === 'string' ? event.actor : '';
    const hour = Math.floor(event.at / HOUR_MS) * HOUR_MS;
    let byDomain = parsed.get(details.grantedScope);
    if (byDomain === undefined) parsed.set(details.grantedScope, (byDomain = rolesByDomain(details.grantedScope)));
    for (const [domain, roles] of byDomain) {
      const key = JSON.stringify([domain, event.target, actor, roles, hour]);
      const count = counts.get(key);
      if (count === undefined) {
        counts.set(key, { domain, principal: event.target, actor, roles, hour, count: 1, firstAt: event.at, lastAt: event.at });
      } else {
        count.count += 1;
        count.firstAt = Math.min(count.firstAt, event.at);
        count.lastAt = Math.max(count.lastAt, event.at);
      }
    }
  }
  return [...counts.values()];
}

/** `beta:role.readers beta:role.writers gamma:role.x openid` → beta: "readers writers", gamma: "x". */
function rolesByDomain(scope: string): Map<string, string> {
  const roles = new Map<string, string[]>();
  for (const item of scope.split(' ')) {
    const at = item.indexOf(':role.');
    if (at <= 0) continue;
    const domain = item.slice(0, at);
    const list = roles.get(domain) ?? [];
    list.push(item.slice(at + ':role.'.length));
    roles.set(domain, list);
  }
  return new Map([...roles].map(([domain, list]) => [domain, [...new Set(list)].sort().join(' ')]));
}

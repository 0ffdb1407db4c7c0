// Token rates: what the client endpoints did per hour — tokens issued, and refusals by error code —
// kept as sums (guards/token-rates.ts counts them from each token audit batch). Like the callers'
// sums (sql/callers.ts) they are added in the batch's own transaction, several instances on one
// PostgreSQL add to the same rows (ON CONFLICT … DO UPDATE), each batch's rows in key order so
// that two batches never wait for each other's locks in a cycle, and reading never touches
// audit_events.

import type { SqlExecutor, SqlValue } from '../drivers/driver.ts';
import type { TokenRateCount, TokenRateEndpoint } from '../records.ts';
import type { SqlContext } from './context.ts';

const ROWS_PER_INSERT = 100;

export async function addTokenRates(tx: SqlExecutor, counts: readonly TokenRateCount[]): Promise<void> {
  if (counts.length === 0) return;
  const sorted = [...counts].sort(compareKeys);
  for (let start = 0; start < sorted.length; start += ROWS_PER_INSERT) {
    const chunk = sorted.slice(start, start + ROWS_PER_INSERT);
    await tx.run(
      `INSERT INTO token_rates (hour, endpoint, outcome, count) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (hour, endpoint, outcome) DO UPDATE SET count = token_rates.count + excluded.count`,
      chunk.flatMap((c): SqlValue[] => [c.hour, c.endpoint, c.outcome, c.count]),
    );
  }
}

function compareKeys(a: TokenRateCount, b: TokenRateCount): number {
  if (a.hour !== b.hour) return a.hour - b.hour;
  if (a.endpoint !== b.endpoint) return a.endpoint < b.endpoint ? -1 : 1;
  return a.outcome === b.outcome ? 0 : a.outcome < b.outcome ? -1 : 1;
}

/** The sums of the hours starting at or after `since`, by hour, endpoint and outcome. */
export async function tokenRates(ctx: SqlContext, since: number): Promise<TokenRateCount[]> {
  const rows = await ctx.db.all<{ hour: number | string; endpoint: string; outcome: string; count: number | string }>(
    'SELECT hour, endpoint, outcome, count FROM token_rates WHERE hour >= ? ORDER BY hour, endpoint, outcome',
    [since],
  );
  return rows.map((row) => ({ hour: Number(row.hour), endpoint: row.endpoint as TokenRateEndpoint, outcome: row.outcome, count: Number(row.count) }));
}

/** Deletes up to `limit` hours' rows older than `before`; resolves to how many rows went. */
export async function pruneTokenRates(ctx: SqlContext, before: number, limit: number): Promise<number> {
  const { changes } = await ctx.db.run(
    `DELETE FROM token_rates WHERE hour <= (
       SELECT MAX(hour) FROM (SELECT hour FROM token_rates WHERE hour < ? ORDER BY hour LIMIT ?) oldest
     )`,
    [before, limit],
  );
  return changes;
}

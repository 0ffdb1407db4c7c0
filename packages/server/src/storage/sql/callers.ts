// Who calls whom: tokens issued per (domain, principal, actor, roles, hour), kept as sums. The
// token audit's batch writer hands each batch's counts here (guards/token-callers.ts), and they
// are added in the batch's own transaction: the counts and the audit rows they summarise are
// written together or not at all, and several instances on one PostgreSQL add to the same rows
// (ON CONFLICT … DO UPDATE), each batch's rows in key order so that two batches never wait for
// each other's locks in a cycle. Reading never touches audit_events.

import type { SqlExecutor, SqlValue } from '../drivers/driver.ts';
import type { CallerCount, CallerQuery, CallerSeriesQuery, CallerSummary } from '../records.ts';
import type { SqlContext } from './context.ts';

const ROWS_PER_INSERT = 100;

export async function addCallerCounts(tx: SqlExecutor, dialect: 'sqlite' | 'postgres', counts: readonly CallerCount[]): Promise<void> {
  if (counts.length === 0) return;
  const sorted = [...counts].sort(compareKeys);
  const [least, greatest] = dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['MIN', 'MAX'];
  for (let start = 0; start < sorted.length; start += ROWS_PER_INSERT) {
    const chunk = sorted.slice(start, start + ROWS_PER_INSERT);
    const rows = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    await tx.run(
      `INSERT INTO token_callers (domain, principal, actor, roles, hour, count, first_at, last_at) VALUES ${rows}
       ON CONFLICT (domain, principal, actor, roles, hour) DO UPDATE SET
         count = token_callers.count + excluded.count,
         first_at = ${least}(token_callers.first_at, excluded.first_at),
         last_at = ${greatest}(token_callers.last_at, excluded.last_at)`,
      chunk.flatMap((c): SqlValue[] => [c.domain, c.principal, c.actor, c.roles, c.hour, c.count, c.firstAt, c.lastAt]),
    );
  }
}

function compareKeys(a: CallerCount, b: CallerCount): number {
  for (const key of ['domain', 'principal', 'actor', 'roles'] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  return a.hour - b.hour;
}

interface SummaryRow {
  principal: string;
  actor: string;
  roles: string;
  count: number | string;
  first_at: number | string;
  last_at: number | string;
}

/** The domain's callers since `since`, summed over the hours, by (principal, actor, roles). */
export async function listCallers(ctx: SqlContext, query: CallerQuery): Promise<CallerSummary[]> {
  const params: SqlValue[] = [query.domain, query.since];
  let after = '';
  if (query.after !== undefined) {
    const [principal, actor, roles] = query.after;
    after = 'AND (principal > ? OR (principal = ? AND (actor > ? OR (actor = ? AND roles > ?))))';
    params.push(principal, principal, actor, actor, roles);
  }
  const rows = await ctx.db.all<SummaryRow>(
    `SELECT principal, actor, roles, SUM(count) AS count, MIN(first_at) AS first_at, MAX(last_at) AS last_at
       FROM token_callers WHERE domain = ? AND hour >= ? ${after}
      GROUP BY principal, actor, roles ORDER BY principal, actor, roles LIMIT ?`,
    [...params, query.limit],
  );
  return rows.map((row) => ({
    principal: row.principal,
    actor: row.actor,
    roles: row.roles,
    count: Number(row.count),
    firstAt: Number(row.first_at),
    lastAt: Number(row.last_at),
  }));
}

/** Tokens issued for the domain per hour since `since` (only hours with any), oldest first. */
export async function callerSeries(ctx: SqlContext, query: CallerSeriesQuery): Promise<{ hour: number; count: number }[]> {
  const params: SqlValue[] = [query.domain, query.since];
  const principal = query.principal === undefined ? '' : 'AND principal = ?';
  if (query.principal !== undefined) params.push(query.principal);
  const rows = await ctx.db.all<{ hour: number | string; count: number | string }>(
    `SELECT hour, SUM(count) AS count FROM token_callers WHERE domain = ? AND hour >= ? ${principal} GROUP BY hour ORDER BY hour`,
    params,
  );
  return rows.map((row) => ({ hour: Number(row.hour), count: Number(row.count) }));
}

/** Deletes up to `limit` hours' rows older than `before`; resolves to how many rows went. */
export async function pruneCallers(ctx: SqlContext, before: number, limit: number): Promise<number> {
  const { changes } = await ctx.db.run(
    `DELETE FROM token_callers WHERE hour <= (
       SELECT MAX(hour) FROM (SELECT hour FROM token_callers WHERE hour < ? ORDER BY hour LIMIT ?) oldest
     )`,
    [before, limit],
  );
  return changes;
}

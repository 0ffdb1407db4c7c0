import type { SqlValue } from '../drivers/driver.ts';
import type { AuditEvent, AuditQuery, AuditSelection, CallerCount, TokenRateCount } from '../records.ts';
import { addCallerCounts } from './callers.ts';
import { addTokenRates } from './token-rates.ts';
import { AUDIT_COLUMNS, auditValues, insertAudit } from './context.ts';
import type { SqlContext } from './context.ts';
import { toAuditEvent } from './rows.ts';
import type { AuditRow } from './rows.ts';

export async function appendAudit(ctx: SqlContext, event: Omit<AuditEvent, 'id'>): Promise<void> {
  await insertAudit(ctx.db, event);
}

// Rows per INSERT: 700 parameters, far below either database's limit, and every full chunk
// reuses one prepared statement.
const BATCH_ROWS = 100;

export async function appendAuditBatch(
  ctx: SqlContext,
  events: readonly Omit<AuditEvent, 'id'>[],
  callers: readonly CallerCount[] = [],
  rates: readonly TokenRateCount[] = [],
): Promise<void> {
  if (events.length === 0 && callers.length === 0 && rates.length === 0) return;
  // Relaxed durability: a batch survives a crash of Tessera, not a power cut, and its fsync no
  // longer stalls the token endpoint it records (see SqlDriver.transaction).
  await ctx.db.transaction(
    async (tx) => {
      for (let start = 0; start < events.length; start += BATCH_ROWS) {
        const chunk = events.slice(start, start + BATCH_ROWS);
        const rows = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
        await tx.run(`INSERT INTO audit_events ${AUDIT_COLUMNS} VALUES ${rows}`, chunk.flatMap(auditValues));
      }
      await addCallerCounts(tx, ctx.db.dialect, callers);
      await addTokenRates(tx, rates);
    },
    { durability: 'relaxed' },
  );
}

export async function queryAudit(ctx: SqlContext, query: AuditQuery): Promise<AuditEvent[]> {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (query.domain !== undefined) {
    where.push('domain = ?');
    params.push(query.domain);
  }
  // The index on target holds only events whose target is not their actor (migrations.ts); each
  // search by target is split so both halves go through an index: those, and the actor's own.
  if (query.target !== undefined) {
    where.push('((target = ? AND target <> actor) OR (actor = ? AND target = ?))');
    params.push(query.target, query.target, query.target);
  }
  if (query.principal !== undefined) {
    where.push('(actor = ? OR (target = ? AND target <> actor))');
    params.push(query.principal, query.principal);
  }
  if (query.type !== undefined) {
    where.push('type = ?');
    params.push(query.type);
  }
  if (query.since !== undefined) {
    where.push('at >= ?');
    params.push(query.since);
  }
  if (query.after !== undefined) {
    // The page's start as a range on `at`, which the indexes on at, (type, at) seek to.
    where.push('at <= ? AND (at < ? OR id < ?)');
    params.push(query.after.at, query.after.at, query.after.id);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const rows = await ctx.db.all<AuditRow>(`SELECT * FROM audit_events ${filter} ORDER BY at DESC, id DESC LIMIT ?`, [...params, query.limit]);
  return rows.map(toAuditEvent);
}

export async function pruneAudit(ctx: SqlContext, selection: AuditSelection, before: number, limit: number): Promise<number> {
  if ('allBut' in selection) return pruneOldest(ctx, notAmong(selection.allBut), selection.allBut, before, limit);
  let pruned = 0;
  // One type at a time, each through the (type, at) index.
  for (const type of selection.types) {
    if (pruned >= limit) break;
    pruned += await pruneOldest(ctx, 'type = ?', [type], before, limit - pruned);
  }
  return pruned;
}

function notAmong(types: readonly string[]): string {
  return types.length === 0 ? '1 = 1' : `type NOT IN (${types.map(() => '?').join(', ')})`;
}

// A cut-off time rather than "id IN (oldest rows)", as in pruneExpired (sql/context.ts): one
// range scan of an index on both databases, where PostgreSQL would hash-join the whole table.
// Several instances may run this at once: a row the other deleted first is simply skipped.
async function pruneOldest(ctx: SqlContext, filter: string, params: readonly SqlValue[], before: number, limit: number): Promise<number> {
  const { changes } = await ctx.db.run(
    `DELETE FROM audit_events WHERE ${filter} AND at <= (
       SELECT MAX(at) FROM (SELECT at FROM audit_events WHERE ${filter} AND at < ? ORDER BY at LIMIT ?) oldest
     )`,
    [...params, ...params, before, limit],
  );
  return changes;
}

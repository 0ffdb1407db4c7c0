// Changes waiting for a second admin (migration 13): a change of a role its domain lists in
// approvalRequiredRoles, or the removal of names from that list, is stored here as requested and
// applied only when another admin of the domain approves it (admin/routes/approvals.ts).

import type { SqlExecutor } from '../drivers/driver.ts';
import { AlreadyDecidedError } from '../errors.ts';
import type { Actor, AuditNote, PendingChange, PendingChangeStatus } from '../records.ts';
import { audit, holdDomain, roleTarget } from './context.ts';
import type { SqlContext } from './context.ts';
import { toPendingChange } from './rows.ts';
import type { PendingChangeRow } from './rows.ts';

export type NewPendingChange = Omit<PendingChange, 'status' | 'decidedBy' | 'decidedAt' | 'outcome'>;

const targetOf = (change: { domain: string; role: string | null }): string => (change.role === null ? change.domain : roleTarget(change.domain, change.role));

/** Stores a pending change (NotFoundError for an unknown domain). Audit `approval.request` with the change as requested. */
export function createPendingChange(ctx: SqlContext, change: NewPendingChange, by: Actor, reason?: string): Promise<PendingChange> {
  return ctx.db.transaction(async (tx) => {
    await holdDomain(ctx, tx, change.domain);
    await tx.run(
      `INSERT INTO pending_changes (id, domain, role, kind, change_json, requested_by, requested_at, expires_at, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      [change.id, change.domain, change.role, change.kind, JSON.stringify(change.change), change.requestedBy, change.requestedAt, change.expiresAt],
    );
    const after = { id: change.id, kind: change.kind, change: change.change, expiresAt: change.expiresAt, ...(reason === undefined ? {} : { reason }) };
    await audit(ctx, tx, by, { type: 'approval.request', target: targetOf(change), before: null, after });
    return { ...change, status: 'pending', decidedBy: null, decidedAt: null, outcome: null };
  });
}

export async function getPendingChange(ctx: SqlContext, id: string): Promise<PendingChange | null> {
  const row = await ctx.db.get<PendingChangeRow>('SELECT * FROM pending_changes WHERE id = ?', [id]);
  return row ? toPendingChange(row) : null;
}

/** The domain's changes still pending and unexpired at `now`, oldest first (requestedAt, then id). */
export async function listPendingChanges(
  ctx: SqlContext,
  domain: string,
  query: { limit: number; now: number; after?: { requestedAt: number; id: string } },
): Promise<PendingChange[]> {
  const after = query.after === undefined ? '' : ' AND (requested_at > ? OR (requested_at = ? AND id > ?))';
  const rows = await ctx.db.all<PendingChangeRow>(
    `SELECT * FROM pending_changes WHERE domain = ? AND status = 'pending' AND expires_at > ?${after} ORDER BY requested_at, id LIMIT ?`,
    [domain, query.now, ...(query.after === undefined ? [] : [query.after.requestedAt, query.after.requestedAt, query.after.id]), query.limit],
  );
  return rows.map(toPendingChange);
}

/**
 * Moves a change from `from` to `to` (compare-and-set: AlreadyDecidedError when it is no longer
 * `from`, e.g. a rejection racing an approval), dated now and by `by`, with `outcome` (a
 * rejection's reason, a failure's message). Audit `approval.<auditVerb>` in the same transaction.
 */
export function decidePendingChange(
  ctx: SqlContext,
  id: string,
  from: PendingChangeStatus,
  to: PendingChangeStatus,
  by: Actor,
  detail: { auditVerb: 'approve' | 'reject' | 'fail'; outcome?: string | null },
): Promise<PendingChange> {
  return ctx.db.transaction((tx) => decide(ctx, tx, id, { from, to, unexpired: false }, by, detail));
}

/**
 * For a write applying a pending change (`note.approval`), first thing in its transaction: moves
 * the change from pending to approved, if it is still pending and unexpired (AlreadyDecidedError
 * otherwise). The row stays locked to the commit (PostgreSQL), so a concurrent decision on it waits
 * and then finds it decided, or, if this write fails and rolls back, still pending.
 */
export async function claimApproval(ctx: SqlContext, tx: SqlExecutor, by: Actor, note: AuditNote | undefined): Promise<void> {
  if (note?.approval === undefined) return;
  await decide(ctx, tx, note.approval.id, { from: 'pending', to: 'approved', unexpired: true }, by, {
    auditVerb: 'approve',
    outcome: note.approvalOutcome ?? null,
  });
}

async function decide(
  ctx: SqlContext,
  tx: SqlExecutor,
  id: string,
  move: { from: PendingChangeStatus; to: PendingChangeStatus; unexpired: boolean },
  by: Actor,
  detail: { auditVerb: 'approve' | 'reject' | 'fail'; outcome?: string | null },
): Promise<PendingChange> {
  const { from, to } = move;
  const now = ctx.now();
  const unexpired = move.unexpired ? ' AND expires_at > ?' : '';
  const { changes } = await tx.run(
    `UPDATE pending_changes SET status = ?, decided_by = ?, decided_at = ?, outcome = ? WHERE id = ? AND status = ?${unexpired}`,
    [to, by.actor, now, detail.outcome ?? null, id, from, ...(move.unexpired ? [now] : [])],
  );
  const row = await tx.get<PendingChangeRow>('SELECT * FROM pending_changes WHERE id = ?', [id]);
  if (row === undefined) throw new AlreadyDecidedError(`change ${id} does not exist`);
  const change = toPendingChange(row);
  if (changes !== 1) throw new AlreadyDecidedError(decidedMessage(change, from));
  const after = {
    id,
    kind: change.kind,
    status: to,
    requestedBy: change.requestedBy,
    decidedBy: by.actor,
    ...(detail.outcome === undefined || detail.outcome === null ? {} : { outcome: detail.outcome }),
  };
  await audit(ctx, tx, by, { type: `approval.${detail.auditVerb}`, target: targetOf(change), before: { status: from }, after });
  return change;
}

/** Why a decision on `change` (expected `from`) lost: decided before it, or expired. */
function decidedMessage(change: PendingChange, from: PendingChangeStatus): string {
  if (change.status === from) return `change ${change.id} expired at ${new Date(change.expiresAt).toISOString()}; request it again`;
  const by = change.decidedBy === null ? '' : ` by ${change.decidedBy}`;
  return `change ${change.id} is already ${change.status}${by}: another decision on it came first (nothing was changed by this one)`;
}

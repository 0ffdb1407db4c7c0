// The registry never loses its last way in: a transaction that changes who holds
// `sys.auth:role.admin` (the role's members, or the standing of a service that is one) is refused
// when it would leave the role without an active member (an unexpired membership of a service that
// is ACTIVE and unexpired), as Athenz refuses to delete the last member of an admin role.
//
// Judged inside the transaction, once its writes are done and before it commits, under one lock
// that every such transaction takes: on PostgreSQL an advisory transaction lock (context.ts lock
// order: after every row lock, before the change counter), so of two removals racing on two
// instances the second waits for the first to commit and then sees it (each statement of a READ
// COMMITTED transaction reads what has committed when it starts); SQLite runs one write
// transaction at a time. A change that sets expiries is judged at the latest one it sets: an
// expiry in the future ends the membership, or the service, then.

import type { SqlDriver, SqlExecutor } from '../drivers/driver.ts';
import { ConflictError } from '../errors.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN } from '../../policy/names.ts';
import type { SqlContext } from './context.ts';

/** Transactions that change who holds the role, and the time at which each is judged. */
const guarded = new WeakMap<SqlExecutor, number>();

export const isSystemAdminRole = (domain: string, role: string): boolean => domain === SYSTEM_DOMAIN && role === ADMIN_ROLE;

/**
 * Marks `tx` as changing who holds `sys.auth:role.admin`: judged when it ends at `at`, or later
 * when another change of the same transaction asks for a later time.
 */
export function guardSystemAdmins(ctx: SqlContext, tx: SqlExecutor, at: number = ctx.now()): void {
  guarded.set(tx, Math.max(guarded.get(tx) ?? 0, at, ctx.now()));
}

/** For members written to `domain:role.role`: guards the transaction when that is the system admin role, judged at the latest expiry written. */
export function guardAdminMembers(ctx: SqlContext, tx: SqlExecutor, domain: string, role: string, written: readonly { expiresAt: number | null }[]): void {
  if (!isSystemAdminRole(domain, role)) return;
  guardSystemAdmins(ctx, tx, Math.max(ctx.now(), ...written.map((m) => m.expiresAt ?? 0)));
}

/** Whether `principal`'s membership of the system admin role is unexpired at `at` (its service's standing aside). */
export async function holdsSystemAdminAt(tx: SqlExecutor, principal: string, at: number): Promise<boolean> {
  const row = await tx.get(`SELECT 1 AS held FROM role_members WHERE domain = ? AND role = ? AND principal = ? AND (expires_at IS NULL OR expires_at > ?)`, [
    SYSTEM_DOMAIN,
    ADMIN_ROLE,
    principal,
    at,
  ]);
  return row !== undefined;
}

/** Run by every transaction as its last step before the change counter: refuses a guarded one that leaves no active system admin. */
export async function checkSystemAdmins(tx: SqlExecutor, dialect: SqlDriver['dialect']): Promise<void> {
  const at = guarded.get(tx);
  if (at === undefined) return;
  // The key is any constant no other lock of Tessera's uses.
  if (dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(7305342113) AS locked');
  const active = await tx.get(
    `SELECT 1 AS active FROM role_members m JOIN services s ON s.principal = m.principal
     WHERE m.domain = ? AND m.role = ? AND (m.expires_at IS NULL OR m.expires_at > ?) AND s.status = 'ACTIVE' AND (s.expires_at IS NULL OR s.expires_at > ?)
     LIMIT 1`,
    [SYSTEM_DOMAIN, ADMIN_ROLE, at, at],
  );
  if (active !== undefined) return;
  throw new ConflictError(
    `this would leave ${SYSTEM_DOMAIN}:role.${ADMIN_ROLE} without an active member, and nobody could administer Tessera; add another system admin first`,
  );
}

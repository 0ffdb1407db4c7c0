// The registry never loses its last way in. Of the members of `sys.auth:role.admin`, those that
// count are the unexpired memberships of services that are ACTIVE and unexpired; each counts until
// the earlier of its membership's and its service's expiry. The moment the last of them stops
// counting (never, while one has no expiry) is the role's horizon, and no change may bring it
// forward: a change that would leave the role without an active member now, or sooner than it
// would be left without one anyway, is refused (ConflictError), as Athenz refuses to delete the
// last member of an admin role. Changes that move it later, or leave it, pass; so does any change
// once no admin counts any more (nothing is left to protect, and recovery must go through).
//
// A change that may bring the horizon forward (a write of the role's members, the role's
// deletion, a service disabled, given an expiry or deleted) calls guardSystemAdmins before any
// write or row lock of its own: on PostgreSQL it takes an advisory transaction lock, so such
// changes run one at a time across every worker and instance (context.ts lock order: after a
// pending change's row, before every other row), and reads the horizon; checkSystemAdmins, the
// transaction's last step before the change counter, reads it again with the change made. SQLite
// runs one write transaction at a time.

import type { SqlExecutor } from '../drivers/driver.ts';
import { ConflictError } from '../errors.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN } from '../../policy/names.ts';
import type { SqlContext } from './context.ts';

/** Guarded transactions, with the horizon each saw before its change. */
const guarded = new WeakMap<SqlExecutor, number>();

/** Marks `tx` as one that may bring the horizon forward. Call before the transaction's writes and row locks. */
export async function guardSystemAdmins(ctx: SqlContext, tx: SqlExecutor): Promise<void> {
  if (guarded.has(tx)) return;
  // The key is any constant no other lock of Tessera's uses.
  if (ctx.db.dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(7305342113) AS locked');
  guarded.set(tx, await horizon(tx, ctx.now()));
}

/** guardSystemAdmins for a change of the members of `roles`, when sys.auth:role.admin is one of them. */
export async function guardAdminRoleChange(ctx: SqlContext, tx: SqlExecutor, roles: readonly { domain: string; role: string }[]): Promise<void> {
  if (roles.some(({ domain, role }) => domain === SYSTEM_DOMAIN && role === ADMIN_ROLE)) await guardSystemAdmins(ctx, tx);
}

/** Run by every transaction as its last step before the change counter: refuses a guarded one that brings the horizon forward. */
export async function checkSystemAdmins(tx: SqlExecutor, clock: () => number): Promise<void> {
  const before = guarded.get(tx);
  if (before === undefined) return;
  const now = clock();
  const after = await horizon(tx, now);
  if (after >= before) return;
  const role = `${SYSTEM_DOMAIN}:role.${ADMIN_ROLE}`;
  if (after <= now) {
    throw new ConflictError(`this would leave ${role} without an active member, and nobody could administer Tessera; add another system admin first`);
  }
  const today = before === Infinity ? 'never, as one of them has no expiry' : `only from ${new Date(before).toISOString()}`;
  throw new ConflictError(
    `this would leave ${role} without an active member from ${new Date(after).toISOString()} (as its members stand it would be ${today}), ` +
      'and nobody could administer Tessera then; add another system admin lasting as long first',
  );
}

interface AdminRow {
  member_end: number | string | null;
  service_end: number | string | null;
}

/** When the last counting admin stops counting: Infinity when one has no expiry, -Infinity when none counts now. */
async function horizon(tx: SqlExecutor, now: number): Promise<number> {
  const rows = await tx.all<AdminRow>(
    `SELECT m.expires_at AS member_end, s.expires_at AS service_end FROM role_members m JOIN services s ON s.principal = m.principal
     WHERE m.domain = ? AND m.role = ? AND s.status = 'ACTIVE' AND (m.expires_at IS NULL OR m.expires_at > ?) AND (s.expires_at IS NULL OR s.expires_at > ?)`,
    [SYSTEM_DOMAIN, ADMIN_ROLE, now, now],
  );
  let last = -Infinity;
  for (const row of rows) {
    const end = Math.min(row.member_end === null ? Infinity : Number(row.member_end), row.service_end === null ? Infinity : Number(row.service_end));
    if (end > last) last = end;
  }
  return last;
}

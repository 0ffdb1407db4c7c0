// Roles and their members. A member is any principal name: it need not be registered yet.

import type { SqlExecutor } from '../drivers/driver.ts';
import { isForeignAdminRole } from '../../policy/names.ts';
import { NotFoundError } from '../errors.ts';
import type { Actor, HeldRole, Membership, Role, RoleMember } from '../records.ts';
import { audit, checkLifetime, holdDomain, loadRole, lockRole, roleTarget, serviceRow } from './context.ts';
import type { SqlContext } from './context.ts';
import { voidJoinTokens } from './join-tokens.ts';
import { toMember, toRole } from './rows.ts';
import type { MemberRow, RoleRow } from './rows.ts';

export async function putRole(
  ctx: SqlContext,
  domain: string,
  name: string,
  members: RoleMember[] | undefined,
  by: Actor,
  settings: { tokenMaxLifetime?: number | null } = {},
): Promise<{ role: Role; created: boolean; joinTokensVoided: number }> {
  const { tokenMaxLifetime } = settings;
  checkLifetime(tokenMaxLifetime);
  return ctx.db.transaction(async (tx) => {
    await holdDomain(ctx, tx, domain);
    const now = ctx.now();
    // DO NOTHING rather than a check first: when two instances create the same role at
    // once, the later one becomes an update instead of failing.
    const { changes } = await tx.run(
      `INSERT INTO roles (domain, name, token_max_lifetime, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (domain, name) DO NOTHING`,
      [domain, name, tokenMaxLifetime ?? null, now, now],
    );
    const created = changes === 1;
    let before: Role | null = null;
    if (!created) {
      before = await loadRole(tx, await lockRole(ctx, tx, domain, name));
      await touchRole(ctx, tx, domain, name);
      // undefined keeps the current limit; null clears it.
      if (tokenMaxLifetime !== undefined) {
        await tx.run('UPDATE roles SET token_max_lifetime = ? WHERE domain = ? AND name = ?', [tokenMaxLifetime, domain, name]);
      }
    }
    let joinTokensVoided = 0;
    if (members) {
      // A principal named twice is one member; the last entry wins.
      const unique = new Map(members.map((member) => [member.principal, member]));
      const previous = await memberRows(tx, domain, name);
      for (const row of previous.values()) {
        if (unique.has(row.principal)) continue;
        await tx.run('DELETE FROM role_members WHERE domain = ? AND role = ? AND principal = ?', [domain, name, row.principal]);
      }
      for (const member of unique.values()) {
        joinTokensVoided += await writeMember(ctx, tx, { domain, role: name, member, previous: previous.get(member.principal) }, by);
      }
    }
    const role = await loadRole(tx, await lockRole(ctx, tx, domain, name));
    await audit(ctx, tx, by, { type: 'role.put', target: roleTarget(domain, name), before, after: role });
    return { role, created, joinTokensVoided };
  });
}

export async function getRole(ctx: SqlContext, domain: string, name: string): Promise<Role | null> {
  const row = await ctx.db.get<RoleRow>('SELECT * FROM roles WHERE domain = ? AND name = ?', [domain, name]);
  return row ? loadRole(ctx.db, row) : null;
}

export async function listRoles(ctx: SqlContext, domain: string): Promise<Role[]> {
  const roles = await ctx.db.all<RoleRow>('SELECT * FROM roles WHERE domain = ? ORDER BY name', [domain]);
  const members = await ctx.db.all<MemberRow>('SELECT * FROM role_members WHERE domain = ? ORDER BY role, principal', [domain]);
  return roles.map((row) => toRole(row, members.filter((member) => member.role === row.name)));
}

export function deleteRole(ctx: SqlContext, domain: string, name: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    const before = await loadRole(tx, await lockRole(ctx, tx, domain, name));
    await tx.run('DELETE FROM role_members WHERE domain = ? AND role = ?', [domain, name]);
    await tx.run('DELETE FROM roles WHERE domain = ? AND name = ?', [domain, name]);
    await audit(ctx, tx, by, { type: 'role.delete', target: roleTarget(domain, name), before, after: null });
  });
}

export function putRoleMember(
  ctx: SqlContext,
  domain: string,
  role: string,
  member: RoleMember,
  by: Actor,
): Promise<{ created: boolean; joinTokensVoided: number }> {
  return ctx.db.transaction(async (tx) => {
    await lockRole(ctx, tx, domain, role);
    const existing = await memberRow(tx, domain, role, member.principal);
    const joinTokensVoided = await writeMember(ctx, tx, { domain, role, member, previous: existing }, by);
    await touchRole(ctx, tx, domain, role);
    await audit(ctx, tx, by, {
      type: 'role-member.put',
      target: roleTarget(domain, role),
      before: existing ? toMember(existing) : null,
      after: { principal: member.principal, expiresAt: member.expiresAt },
    });
    return { created: !existing, joinTokensVoided };
  });
}

export function deleteRoleMember(ctx: SqlContext, domain: string, role: string, principal: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    await lockRole(ctx, tx, domain, role);
    const existing = await memberRow(tx, domain, role, principal);
    if (!existing) throw new NotFoundError(`${principal} is not a member of ${roleTarget(domain, role)}`);
    await tx.run('DELETE FROM role_members WHERE domain = ? AND role = ? AND principal = ?', [domain, role, principal]);
    await touchRole(ctx, tx, domain, role);
    await audit(ctx, tx, by, { type: 'role-member.delete', target: roleTarget(domain, role), before: toMember(existing), after: null });
  });
}

// On the token endpoint's path: one statement. role_members_by_principal finds the
// memberships; each joins its role and domain by primary key for their lifetime limits.
export async function rolesHeld(ctx: SqlContext, principal: string, domains: string[], now: number): Promise<HeldRole[]> {
  const wanted = [...new Set(domains)];
  if (wanted.length === 0) return [];
  const rows = await ctx.db.all<{ domain: string; role: string; role_max: number | null; domain_max: number | null; expires_at: number | null }>(
    `SELECT m.domain, m.role, r.token_max_lifetime AS role_max, d.token_max_lifetime AS domain_max, m.expires_at
     FROM role_members m
     JOIN roles r ON r.domain = m.domain AND r.name = m.role
     JOIN domains d ON d.name = m.domain
     WHERE m.principal = ? AND m.domain IN (${wanted.map(() => '?').join(', ')}) AND (m.expires_at IS NULL OR m.expires_at > ?)
     ORDER BY m.domain, m.role`,
    [principal, ...wanted, now],
  );
  return rows.map((row) => ({
    domain: row.domain,
    role: row.role,
    maxLifetime: smallerLimit(row.role_max, row.domain_max),
    expiresAt: row.expires_at,
  }));
}

export async function membershipsOf(ctx: SqlContext, principal: string): Promise<Membership[]> {
  const rows = await ctx.db.all<MemberRow>('SELECT * FROM role_members WHERE principal = ? ORDER BY domain, role', [principal]);
  return rows.map((row) => ({ domain: row.domain, role: row.role, expiresAt: row.expires_at }));
}

// In code rather than SQL: SQLite's MIN(a, b) is NULL when either is, PostgreSQL's LEAST
// skips NULLs.
export function smallerLimit(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function memberRow(db: SqlExecutor, domain: string, role: string, principal: string): Promise<MemberRow | undefined> {
  return db.get<MemberRow>('SELECT * FROM role_members WHERE domain = ? AND role = ? AND principal = ?', [domain, role, principal]);
}

async function memberRows(tx: SqlExecutor, domain: string, role: string): Promise<Map<string, MemberRow>> {
  const rows = await tx.all<MemberRow>('SELECT * FROM role_members WHERE domain = ? AND role = ?', [domain, role]);
  return new Map(rows.map((row) => [row.principal, row]));
}

/**
 * The one place a membership is written (added, or its expiry changed). When it makes the member
 * an admin of a domain other than its own that it was not before (a new membership, or an expired
 * one renewed), the member's outstanding join tokens are voided in the same transaction: whoever
 * made them was trusted with the service as it was, not with that role. Returns how many went.
 */
async function writeMember(
  ctx: SqlContext,
  tx: SqlExecutor,
  change: { domain: string; role: string; member: RoleMember; previous: MemberRow | undefined },
  by: Actor,
): Promise<number> {
  const { domain, role, member, previous } = change;
  if (previous) {
    await tx.run('UPDATE role_members SET expires_at = ? WHERE domain = ? AND role = ? AND principal = ?', [
      member.expiresAt,
      domain,
      role,
      member.principal,
    ]);
  } else {
    await tx.run('INSERT INTO role_members (domain, role, principal, expires_at) VALUES (?, ?, ?, ?)', [
      domain,
      role,
      member.principal,
      member.expiresAt,
    ]);
  }
  if (!isForeignAdminRole(member.principal, domain, role)) return 0;
  const now = ctx.now();
  const heldBefore = previous !== undefined && (previous.expires_at === null || Number(previous.expires_at) > now);
  const heldAfter = member.expiresAt === null || member.expiresAt > now;
  if (heldBefore || !heldAfter) return 0;
  // The service's row, locked as join tokens are made under it (join-tokens.ts createJoinToken):
  // one made while this grant commits either comes first and is voided here, or waits and sees it.
  await serviceRow(tx, member.principal, ctx.forUpdate);
  return voidJoinTokens(ctx, tx, member.principal, roleTarget(domain, role), by);
}

async function touchRole(ctx: SqlContext, tx: SqlExecutor, domain: string, name: string): Promise<void> {
  await tx.run('UPDATE roles SET updated_at = ? WHERE domain = ? AND name = ?', [ctx.now(), domain, name]);
}

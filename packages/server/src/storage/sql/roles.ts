// Roles and their members. A member is any principal name: it need not be registered yet.

import type { SqlExecutor } from '../drivers/driver.ts';
import { MAX_ROLE_ACTORS } from '../../policy/delegation.ts';
import { isForeignAdminRole, isPrincipalName } from '../../policy/names.ts';
import { NotFoundError } from '../errors.ts';
import type {
  Actor,
  AuditNote,
  DueMembership,
  DueMembershipQuery,
  HeldRole,
  Membership,
  NamePageQuery,
  ReviewAction,
  ReviewItem,
  Role,
  RoleMember,
} from '../records.ts';
import type { RegistryChange } from './changes.ts';
import { claimApproval } from './approvals.ts';
import { audit, checkLifetime, holdDomain, loadRole, lockRole, roleTarget, withNote } from './context.ts';
import type { SqlContext } from './context.ts';
import { IN_LIST, voidJoinTokens } from './join-tokens.ts';
import { guardAdminRoleChange } from './system-admins.ts';
import { delegationOf, toMember, toRole } from './rows.ts';
import type { MemberRow, RoleRow } from './rows.ts';

export async function putRole(
  ctx: SqlContext,
  domain: string,
  name: string,
  members: RoleMember[] | undefined,
  by: Actor,
  settings: RoleSettings = {},
  note?: AuditNote,
  guard?: (before: Role | null) => void,
): Promise<{ role: Role; created: boolean; joinTokensVoided: number }> {
  const { tokenMaxLifetime, actors, impersonators, idTokenSubjects } = settings;
  checkLifetime(tokenMaxLifetime);
  const actorsJson = actors === undefined ? undefined : principalsJson(actors);
  const impersonatorsJson = impersonators === undefined ? undefined : principalsJson(impersonators);
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    if (members) await guardAdminRoleChange(ctx, tx, [{ domain, role: name }]);
    await holdDomain(ctx, tx, domain);
    const now = ctx.now();
    // DO NOTHING rather than a check first: when two instances create the same role at
    // once, the later one becomes an update instead of failing.
    const { changes } = await tx.run(
      `INSERT INTO roles (domain, name, token_max_lifetime, actors, impersonators, id_token_subjects, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (domain, name) DO NOTHING`,
      [domain, name, tokenMaxLifetime ?? null, actorsJson ?? '[]', impersonatorsJson ?? '[]', idTokenSubjects === true ? 1 : 0, now, now],
    );
    const created = changes === 1;
    let before: Role | null = null;
    if (!created) before = await loadRole(tx, await lockRole(ctx, tx, domain, name));
    // Judged against the role as this transaction holds it: no change of it can come between.
    guard?.(before);
    if (!created) {
      await touchRole(ctx, tx, domain, name);
      // undefined keeps the current limit; null clears it.
      if (tokenMaxLifetime !== undefined) {
        await tx.run('UPDATE roles SET token_max_lifetime = ? WHERE domain = ? AND name = ?', [tokenMaxLifetime, domain, name]);
      }
      // undefined keeps the current lists; [] clears one.
      if (actorsJson !== undefined) await tx.run('UPDATE roles SET actors = ? WHERE domain = ? AND name = ?', [actorsJson, domain, name]);
      if (impersonatorsJson !== undefined) {
        await tx.run('UPDATE roles SET impersonators = ? WHERE domain = ? AND name = ?', [impersonatorsJson, domain, name]);
      }
      if (idTokenSubjects !== undefined) {
        await tx.run('UPDATE roles SET id_token_subjects = ? WHERE domain = ? AND name = ?', [idTokenSubjects ? 1 : 0, domain, name]);
      }
    }
    let joinTokensVoided = 0;
    const diff: MemberDiff = { added: [], removed: [], changed: [], reviewChanged: [] };
    if (members) {
      // A principal named twice is one member; the last entry wins.
      const unique = new Map(members.map((member) => [member.principal, member]));
      const previous = await memberRows(tx, domain, name);
      for (const row of previous.values()) if (!unique.has(row.principal)) diff.removed.push(toMember(row));
      await deleteMembers(
        tx,
        domain,
        name,
        diff.removed.map((m) => m.principal),
      );
      const writes = diffWrites(unique.values(), previous, diff);
      joinTokensVoided = await writeMembers(ctx, tx, { domain, role: name, writes }, by);
    }
    const role = await loadRole(tx, await lockRole(ctx, tx, domain, name));
    const limitChanged = (before?.tokenMaxLifetime ?? null) !== role.tokenMaxLifetime;
    // Who may act for the role's members is read with each membership (HeldRole.delegation), by
    // every cache holding a member: a change to it is the domain's, as a lifetime limit's is.
    const delegationChanged =
      !samePrincipals(before?.actors ?? [], role.actors) ||
      !samePrincipals(before?.impersonators ?? [], role.impersonators) ||
      (before?.idTokenSubjects ?? false) !== role.idTokenSubjects;
    const feed = [...(limitChanged || delegationChanged ? [{ scope: 'domain' as const, key: domain }] : []), ...memberChanges(diff)];
    await audit(
      ctx,
      tx,
      by,
      {
        type: 'role.put',
        target: roleTarget(domain, name),
        before: before && roleSummary(before),
        after: withNote({ ...roleSummary(role), ...diffAudit(diff) }, note),
      },
      feed,
    );
    return { role, created, joinTokensVoided };
  });
}

/** The role with its first `memberLimit` members (by principal), or all of them. */
export async function getRole(ctx: SqlContext, domain: string, name: string, memberLimit?: number): Promise<Role | null> {
  const row = await ctx.db.get<RoleRow>('SELECT * FROM roles WHERE domain = ? AND name = ?', [domain, name]);
  return row ? loadRole(ctx.db, row, memberLimit) : null;
}

/** A page of the domain's roles by name, each with its first `memberLimit` members (or all of them). */
export async function listRoles(ctx: SqlContext, domain: string, page?: NamePageQuery & { memberLimit?: number }): Promise<Role[]> {
  if (page === undefined) {
    const roles = await ctx.db.all<RoleRow>('SELECT * FROM roles WHERE domain = ? ORDER BY name', [domain]);
    const members = await ctx.db.all<MemberRow>('SELECT * FROM role_members WHERE domain = ? ORDER BY role, principal', [domain]);
    return roles.map((row) =>
      toRole(
        row,
        members.filter((member) => member.role === row.name),
      ),
    );
  }
  const after = page.after === undefined ? '' : ' AND name > ?';
  const rows = await ctx.db.all<RoleRow>(`SELECT * FROM roles WHERE domain = ?${after} ORDER BY name LIMIT ?`, [
    domain,
    ...(page.after === undefined ? [] : [page.after]),
    page.limit,
  ]);
  const roles: Role[] = [];
  // One bounded read a role: a role of many members costs no more than its page.
  for (const row of rows) roles.push(await loadRole(ctx.db, row, page.memberLimit));
  return roles;
}

/** A page of the role's members, by principal. */
export async function listRoleMembers(ctx: SqlContext, domain: string, role: string, page: NamePageQuery): Promise<RoleMember[]> {
  const after = page.after === undefined ? '' : ' AND principal > ?';
  const rows = await ctx.db.all<MemberRow>(`SELECT * FROM role_members WHERE domain = ? AND role = ?${after} ORDER BY principal LIMIT ?`, [
    domain,
    role,
    ...(page.after === undefined ? [] : [page.after]),
    page.limit,
  ]);
  return rows.map(toMember);
}

export function deleteRole(ctx: SqlContext, domain: string, name: string, by: Actor, note?: AuditNote): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    await guardAdminRoleChange(ctx, tx, [{ domain, role: name }]);
    const before = await loadRole(tx, await lockRole(ctx, tx, domain, name));
    await tx.run('DELETE FROM role_members WHERE domain = ? AND role = ?', [domain, name]);
    await tx.run('DELETE FROM roles WHERE domain = ? AND name = ?', [domain, name]);
    const shown = { ...roleSummary(before), members: before.members.slice(0, AUDIT_MEMBERS) };
    await audit(ctx, tx, by, { type: 'role.delete', target: roleTarget(domain, name), before: shown, after: withNote(null, note) });
  });
}

export function putRoleMember(
  ctx: SqlContext,
  domain: string,
  role: string,
  member: RoleMember,
  by: Actor,
  note?: AuditNote,
): Promise<{ created: boolean; joinTokensVoided: number }> {
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    await guardAdminRoleChange(ctx, tx, [{ domain, role }]);
    await lockRole(ctx, tx, domain, role);
    const existing = await memberRow(tx, domain, role, member.principal);
    const joinTokensVoided = await writeMembers(ctx, tx, { domain, role, writes: [{ member, previous: existing }] }, by);
    await touchRole(ctx, tx, domain, role);
    await audit(ctx, tx, by, {
      type: 'role-member.put',
      target: roleTarget(domain, role),
      before: existing ? toMember(existing) : null,
      after: withNote(memberAudit(member), note),
    });
    return { created: !existing, joinTokensVoided };
  });
}

/**
 * Adds or updates several members in one transaction, through writeMembers as putRoleMember
 * does (join tokens voided by the same rule), leaving the role's other members as they are.
 * One audit event `role-member.put-many` names the counts and the principals.
 */
export function putRoleMembers(
  ctx: SqlContext,
  domain: string,
  role: string,
  members: readonly RoleMember[],
  by: Actor,
  note?: AuditNote,
): Promise<{ created: number; updated: number; joinTokensVoided: number }> {
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    await guardAdminRoleChange(ctx, tx, [{ domain, role }]);
    await lockRole(ctx, tx, domain, role);
    // A principal named twice is one member; the last entry wins.
    const unique = new Map(members.map((member) => [member.principal, member]));
    const previous = await memberRows(tx, domain, role, [...unique.keys()]);
    const diff: MemberDiff = { added: [], removed: [], changed: [], reviewChanged: [] };
    const writes = diffWrites(unique.values(), previous, diff);
    const joinTokensVoided = await writeMembers(ctx, tx, { domain, role, writes }, by);
    await touchRole(ctx, tx, domain, role);
    const created = diff.added.length;
    const counts = { created, updated: unique.size - created, joinTokensVoided };
    // The previous expiry of each member updated, and the members written: the first AUDIT_MEMBERS of each.
    const updated = [...unique.keys()].flatMap((principal) => {
      const row = previous.get(principal);
      return row ? [toMember(row)] : [];
    });
    const before = { members: updated.slice(0, AUDIT_MEMBERS) };
    const after = withNote({ ...counts, members: [...unique.values()].slice(0, AUDIT_MEMBERS).map(memberAudit) }, note);
    await audit(ctx, tx, by, { type: 'role-member.put-many', target: roleTarget(domain, role), before, after }, memberChanges(diff));
    return counts;
  });
}

export function deleteRoleMember(ctx: SqlContext, domain: string, role: string, principal: string, by: Actor, note?: AuditNote): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    await guardAdminRoleChange(ctx, tx, [{ domain, role }]);
    await lockRole(ctx, tx, domain, role);
    const existing = await memberRow(tx, domain, role, principal);
    if (!existing) throw new NotFoundError(`${principal} is not a member of ${roleTarget(domain, role)}`);
    await tx.run('DELETE FROM role_members WHERE domain = ? AND role = ? AND principal = ?', [domain, role, principal]);
    await touchRole(ctx, tx, domain, role);
    await audit(ctx, tx, by, { type: 'role-member.delete', target: roleTarget(domain, role), before: toMember(existing), after: withNote(null, note) });
  });
}

// On the token endpoint's path: one statement. role_members_by_principal finds the
// memberships; each joins its role and domain by primary key for their lifetime limits. The
// rows are few and sorted here: an ORDER BY m.domain, m.role would make the primary key
// (domain, role, principal) look attractive to both planners, as it yields that order, and
// for a domain of many members walking its range costs a read per member. On SQLite the plan
// is forced besides (INDEXED BY, and CROSS JOIN to keep the members outermost), as its
// planner would still walk that range, or scan roles, as its statistics (or their absence)
// suggest.
export async function rolesHeld(ctx: SqlContext, principal: string, domains: string[], now: number): Promise<HeldRole[]> {
  const wanted = [...new Set(domains)];
  if (wanted.length === 0) return [];
  const sqlite = ctx.db.dialect === 'sqlite';
  const join = sqlite ? 'CROSS JOIN' : 'JOIN';
  const rows = await ctx.db.all<HeldRow>(
    `SELECT m.domain, m.role, r.token_max_lifetime AS role_max, d.token_max_lifetime AS domain_max, m.expires_at, r.actors, r.impersonators, r.id_token_subjects
     FROM role_members m${sqlite ? ' INDEXED BY role_members_by_principal' : ''}
     ${join} roles r ON r.domain = m.domain AND r.name = m.role
     ${join} domains d ON d.name = m.domain
     WHERE m.principal = ? AND m.domain IN (${wanted.map(() => '?').join(', ')}) AND (m.expires_at IS NULL OR m.expires_at > ?)`,
    [principal, ...wanted, now],
  );
  rows.sort((a, b) => compareText(a.domain, b.domain) || compareText(a.role, b.role));
  return rows.map(toHeldRole);
}

/** A membership as rolesHeld and the registry record read it: with its role's and domain's limits and the role's delegation. */
export interface HeldRow {
  domain: string;
  role: string;
  role_max: number | null;
  domain_max: number | null;
  expires_at: number | null;
  actors: string | null;
  impersonators: string | null;
  id_token_subjects: number | null;
}

export function toHeldRole(row: HeldRow): HeldRole {
  const held: HeldRole = {
    domain: row.domain,
    role: row.role,
    maxLifetime: smallerLimit(row.role_max, row.domain_max),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
  const delegation = delegationOf(row.actors, row.impersonators, row.id_token_subjects);
  if (delegation !== undefined) held.delegation = delegation;
  return held;
}

/** What putRole may set besides the members: undefined keeps the current value. */
export interface RoleSettings {
  tokenMaxLifetime?: number | null;
  actors?: readonly string[];
  impersonators?: readonly string[];
  idTokenSubjects?: boolean;
}

/** A list of principals as stored: unique, sorted, JSON. */
function principalsJson(principals: readonly string[]): string {
  const unique = [...new Set(principals)].sort(compareText);
  if (unique.length > MAX_ROLE_ACTORS) throw new RangeError(`a role names at most ${MAX_ROLE_ACTORS} actors or impersonators, not ${unique.length}`);
  for (const principal of unique) {
    if (!isPrincipalName(principal)) throw new RangeError(`"${principal.slice(0, 80)}" is not a principal name`);
  }
  return JSON.stringify(unique);
}

function samePrincipals(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((principal, i) => principal === b[i]);
}

export async function membershipsOf(ctx: SqlContext, principal: string): Promise<Membership[]> {
  const rows = await ctx.db.all<MemberRow>('SELECT * FROM role_members WHERE principal = ? ORDER BY domain, role', [principal]);
  return rows.map((row) => ({ domain: row.domain, role: row.role, expiresAt: row.expires_at }));
}

/** Code-point order, as both databases sort these names (ASCII only). */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
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

/** The role's member rows by principal: all of them, or those of `principals`. */
async function memberRows(tx: SqlExecutor, domain: string, role: string, principals?: readonly string[]): Promise<Map<string, MemberRow>> {
  if (principals === undefined) {
    const rows = await tx.all<MemberRow>('SELECT * FROM role_members WHERE domain = ? AND role = ?', [domain, role]);
    return new Map(rows.map((row) => [row.principal, row]));
  }
  const found = new Map<string, MemberRow>();
  for (let start = 0; start < principals.length; start += IN_LIST) {
    const chunk = principals.slice(start, start + IN_LIST);
    const rows = await tx.all<MemberRow>(`SELECT * FROM role_members WHERE domain = ? AND role = ? AND principal IN (${chunk.map(() => '?').join(', ')})`, [
      domain,
      role,
      ...chunk,
    ]);
    for (const row of rows) found.set(row.principal, row);
  }
  return found;
}

async function deleteMembers(tx: SqlExecutor, domain: string, role: string, principals: readonly string[]): Promise<void> {
  for (let start = 0; start < principals.length; start += IN_LIST) {
    const chunk = principals.slice(start, start + IN_LIST);
    await tx.run(`DELETE FROM role_members WHERE domain = ? AND role = ? AND principal IN (${chunk.map(() => '?').join(', ')})`, [domain, role, ...chunk]);
  }
}

/** What a change did to a role's members: each added, removed, or given another expiry. */
interface MemberDiff {
  added: RoleMember[];
  removed: RoleMember[];
  changed: (RoleMember & { previousExpiresAt: number | null })[];
  /** Members whose review date alone changed: written, but no registry change (a review date grants nothing). */
  reviewChanged: (RoleMember & { previousReviewBy: number | null })[];
}

/** A member as an audit event shows it: reviewBy only when set. */
function memberAudit(member: RoleMember): RoleMember {
  const shown: RoleMember = { principal: member.principal, expiresAt: member.expiresAt };
  if (member.reviewBy !== undefined && member.reviewBy !== null) shown.reviewBy = member.reviewBy;
  return shown;
}

/** The writes of `members` (those new or with another expiry than in `previous`), noted in `diff`. */
function diffWrites(members: Iterable<RoleMember>, previous: Map<string, MemberRow>, diff: MemberDiff): MemberWrite[] {
  const writes: MemberWrite[] = [];
  for (const member of members) {
    const row = previous.get(member.principal);
    if (row === undefined) {
      diff.added.push(member);
    } else {
      const { expiresAt: previousExpiresAt, reviewBy: previousReviewBy = null } = toMember(row);
      const sameReview = previousReviewBy === (member.reviewBy ?? null);
      if (previousExpiresAt === member.expiresAt && sameReview) continue;
      if (previousExpiresAt !== member.expiresAt) diff.changed.push({ ...member, previousExpiresAt });
      else diff.reviewChanged.push({ ...member, previousReviewBy });
    }
    writes.push({ member, previous: row });
  }
  return writes;
}

/** The registry changes of `diff`: one for each principal whose memberships changed. */
function memberChanges(diff: MemberDiff): RegistryChange[] {
  return [...diff.added, ...diff.removed, ...diff.changed].map((m) => ({ scope: 'member', key: m.principal }));
}

/** Principals an audit event names of each list of members; the counts say how many there were in all. */
export const AUDIT_MEMBERS = 100;

/** The audit of `diff`: the first AUDIT_MEMBERS of each list, and how many each held. */
function diffAudit(diff: MemberDiff) {
  return {
    added: diff.added.slice(0, AUDIT_MEMBERS),
    addedCount: diff.added.length,
    removed: diff.removed.slice(0, AUDIT_MEMBERS).map((m) => m.principal),
    removedCount: diff.removed.length,
    expiryChanged: diff.changed.slice(0, AUDIT_MEMBERS),
    expiryChangedCount: diff.changed.length,
    ...(diff.reviewChanged.length === 0
      ? {}
      : { reviewByChanged: diff.reviewChanged.slice(0, AUDIT_MEMBERS), reviewByChangedCount: diff.reviewChanged.length }),
  };
}

/** A role as audited: its settings and how many members it has, not the members themselves. */
function roleSummary(role: Role) {
  const { members, ...rest } = role;
  return { ...rest, memberCount: members.length };
}

interface MemberWrite {
  member: RoleMember;
  previous: MemberRow | undefined;
}

/** Rows of role_members one INSERT writes (5 parameters each). */
const MEMBER_ROWS = 1000;

/**
 * The one place memberships are written (added, or their expiry changed), 1,000 a statement. When
 * one makes its member an admin of a domain other than its own that it was not before (a new
 * membership, or an expired one renewed), the member's outstanding join tokens are voided in the
 * same transaction: whoever made them was trusted with the service as it was, not with that role.
 * Returns how many went.
 */
async function writeMembers(
  ctx: SqlContext,
  tx: SqlExecutor,
  change: { domain: string; role: string; writes: readonly MemberWrite[] },
  by: Actor,
): Promise<number> {
  const { domain, role, writes } = change;
  for (let start = 0; start < writes.length; start += MEMBER_ROWS) {
    const chunk = writes.slice(start, start + MEMBER_ROWS);
    await tx.run(
      `INSERT INTO role_members (domain, role, principal, expires_at, review_by) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}
       ON CONFLICT (domain, role, principal) DO UPDATE SET expires_at = excluded.expires_at, review_by = excluded.review_by`,
      chunk.flatMap(({ member }) => [domain, role, member.principal, member.expiresAt, member.reviewBy ?? null]),
    );
  }
  const now = ctx.now();
  const granted = writes
    .filter(({ member, previous }) => {
      if (!isForeignAdminRole(member.principal, domain, role)) return false;
      const heldBefore = previous !== undefined && (previous.expires_at === null || Number(previous.expires_at) > now);
      const heldAfter = member.expiresAt === null || member.expiresAt > now;
      return !heldBefore && heldAfter;
    })
    .map(({ member }) => member.principal)
    .sort();
  if (granted.length === 0) return 0;
  // The services' rows, locked as join tokens are made under them (join-tokens.ts createJoinToken):
  // one made while this grant commits either comes first and is voided here, or waits and sees it.
  for (let start = 0; start < granted.length; start += IN_LIST) {
    const chunk = granted.slice(start, start + IN_LIST);
    await tx.all(`SELECT principal FROM services WHERE principal IN (${chunk.map(() => '?').join(', ')}) ORDER BY principal${ctx.forUpdate}`, chunk);
  }
  return voidJoinTokens(ctx, tx, granted, roleTarget(domain, role), by);
}

async function touchRole(ctx: SqlContext, tx: SqlExecutor, domain: string, name: string): Promise<void> {
  await tx.run('UPDATE roles SET updated_at = ? WHERE domain = ? AND name = ?', [ctx.now(), domain, name]);
}

/** Memberships whose review date or expiry is at or before `query.until`, by the earlier of the two, then domain, role, principal. */
export async function listDueMemberships(ctx: SqlContext, query: DueMembershipQuery): Promise<DueMembership[]> {
  if (query.domains !== undefined && query.domains.length === 0) return [];
  // The earlier of the dates set, written out: SQLite's MIN(a, b) is NULL when either is, PostgreSQL's LEAST skips NULLs.
  const dueAt = 'CASE WHEN review_by IS NULL THEN expires_at WHEN expires_at IS NULL OR review_by < expires_at THEN review_by ELSE expires_at END';
  const where = ['((review_by IS NOT NULL AND review_by <= ?) OR (expires_at IS NOT NULL AND expires_at <= ?))'];
  const params: (string | number)[] = [query.until, query.until];
  if (query.domains !== undefined) {
    where.push(`domain IN (${query.domains.map(() => '?').join(', ')})`);
    params.push(...query.domains);
  }
  const page = query.after;
  const base = `SELECT domain, role, principal, expires_at, review_by, ${dueAt} AS due_at FROM role_members WHERE ${where.join(' AND ')}`;
  const after = page === undefined ? '' : ' WHERE due_at > ? OR (due_at = ? AND (domain > ? OR (domain = ? AND (role > ? OR (role = ? AND principal > ?)))))';
  const rows = await ctx.db.all<MemberRow & { due_at: number }>(`SELECT * FROM (${base}) due${after} ORDER BY due_at, domain, role, principal LIMIT ?`, [
    ...params,
    ...(page === undefined ? [] : [page.dueAt, page.dueAt, page.domain, page.domain, page.role, page.role, page.principal]),
    query.limit,
  ]);
  return rows.map((row) => ({
    domain: row.domain,
    role: row.role,
    principal: row.principal,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    reviewBy: row.review_by === null ? null : Number(row.review_by),
    dueAt: Number(row.due_at),
  }));
}

/**
 * A bulk review action in one transaction: every item must be a membership (NotFoundError naming
 * the first that is not, and nothing changes). `extend` sets the review date (and the expiry when
 * given) through writeMembers, `remove` deletes the memberships. One audit event per domain
 * (`review.extend`, `review.remove`), target the domain, `before` and `after` the memberships (the
 * first AUDIT_MEMBERS of each), with the counts.
 */
export function applyReviews(
  ctx: SqlContext,
  items: readonly ReviewItem[],
  action: ReviewAction,
  by: Actor,
  note?: AuditNote,
): Promise<{ changed: number; joinTokensVoided: number }> {
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    await guardAdminRoleChange(ctx, tx, items);
    const byRole = new Map<string, { domain: string; role: string; principals: string[] }>();
    for (const item of items) {
      const key = roleTarget(item.domain, item.role);
      const entry = byRole.get(key) ?? { domain: item.domain, role: item.role, principals: [] };
      entry.principals.push(item.principal);
      byRole.set(key, entry);
    }
    type Shown = RoleMember & { role: string };
    const perDomain = new Map<string, { before: Shown[]; after: Shown[]; count: number; changes: RegistryChange[]; roles: string[] }>();
    let joinTokensVoided = 0;
    // Roles in a fixed order, so two actions lock them in the same one.
    for (const [target, { domain, role, principals }] of [...byRole].sort(([a], [b]) => compareText(a, b))) {
      await lockRole(ctx, tx, domain, role);
      const previous = await memberRows(tx, domain, role, principals);
      const missing = principals.find((principal) => !previous.has(principal));
      if (missing !== undefined) throw new NotFoundError(`${missing} is not a member of ${target}`);
      const summary = perDomain.get(domain) ?? { before: [], after: [], count: 0, changes: [], roles: [] };
      perDomain.set(domain, summary);
      summary.roles.push(role);
      const before = principals.map((principal) => toMember(previous.get(principal)!));
      if (action.kind === 'remove') {
        await deleteMembers(tx, domain, role, principals);
        for (const member of before) summary.changes.push({ scope: 'member', key: member.principal });
      } else {
        const writes = before.map((member) => ({
          member: { principal: member.principal, expiresAt: action.expiresAt === undefined ? member.expiresAt : action.expiresAt, reviewBy: action.reviewBy },
          previous: previous.get(member.principal),
        }));
        joinTokensVoided += await writeMembers(ctx, tx, { domain, role, writes }, by);
        for (const { member } of writes) {
          if (member.expiresAt !== previous.get(member.principal)!.expires_at) summary.changes.push({ scope: 'member', key: member.principal });
          summary.after.push({ ...memberAudit(member), role });
        }
      }
      for (const member of before) summary.before.push({ ...member, role });
      summary.count += principals.length;
      await touchRole(ctx, tx, domain, role);
    }
    for (const [domain, summary] of perDomain) {
      const after =
        action.kind === 'remove' ? { removedCount: summary.count } : { members: summary.after.slice(0, AUDIT_MEMBERS), extendedCount: summary.count };
      await audit(
        ctx,
        tx,
        by,
        {
          type: action.kind === 'remove' ? 'review.remove' : 'review.extend',
          target: domain,
          before: { roles: summary.roles, members: summary.before.slice(0, AUDIT_MEMBERS), memberCount: summary.count },
          after: withNote(after, note),
        },
        summary.changes,
      );
    }
    return { changed: items.length, joinTokensVoided };
  });
}

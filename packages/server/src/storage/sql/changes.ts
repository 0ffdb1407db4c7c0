// The registry change feed (migration 10): what each change did, in terms a cache can evict by.
//
// Every stored change writes its audit event through context.ts `audit`, which records here the
// changes that event stands for, in the same transaction: a change cannot commit without its
// feed rows. Each audit type is mapped below; a type with no mapping is refused, so a new kind of
// change cannot slip past the caches unnoticed.
//
// Scopes and keys:
// - `service` principal: the service row (standing, allowedIps, expiry, key removal date,
//   creation, deletion), its secrets, keys, API keys and certificates;
// - `member` principal: the principal's memberships (one added, removed, or its expiry changed);
// - `domain` name: the domain row (created, changed, deleted) or one of its roles' lifetime
//   limits, actors or impersonators, or a role deleted: anything that can change what many
//   principals hold;
// - `token` jti: an access token revoked.

import type { SqlExecutor } from '../drivers/driver.ts';
import type { SqlContext } from './context.ts';

export type ChangeScope = 'service' | 'member' | 'domain' | 'token';

export interface RegistryChange {
  scope: ChangeScope;
  key: string;
}

export interface FeedRow extends RegistryChange {
  seq: number;
}

/** The PostgreSQL channel told of each commit that changed the registry (its payload is empty). */
export const CHANGE_CHANNEL = 'tessera_registry_changes';

interface MemberLike {
  principal: string;
  expiresAt: number | null;
}

interface RoleLike {
  tokenMaxLifetime?: number | null;
  actors?: string[];
  impersonators?: string[];
  idTokenSubjects?: boolean;
}

/** A role.put's `after`: the role, and its members added, removed (principals) and given a new expiry. */
interface RoleDiffLike extends RoleLike {
  added?: MemberLike[];
  addedCount?: number;
  removed?: string[];
  removedCount?: number;
  expiryChanged?: MemberLike[];
  expiryChangedCount?: number;
}

/** The changes an audit event stands for. Throws for an audit type it does not know. */
export function changesOfAudit(event: { type: string; target: string; before: unknown; after: unknown }): RegistryChange[] {
  const { type, target } = event;
  switch (type) {
    case 'service.create':
    case 'service.update':
    case 'service.delete':
    case 'service.tokens-end':
    case 'client-secret.add':
    case 'public-key.put':
    case 'public-key.delete':
    case 'api-key.create':
    case 'api-key.revoke':
    case 'certificate.revoke':
    case 'certificate.revoke-all':
      return [{ scope: 'service', key: target }];
    case 'role-member.put':
    case 'role-member.delete': {
      const principal = (event.after as MemberLike | null)?.principal ?? (event.before as MemberLike | null)?.principal;
      if (principal === undefined) throw new Error(`audit ${type} of ${target} names no member`);
      return [{ scope: 'member', key: principal }];
    }
    // These two name at most 100 members of each kind (roles.ts AUDIT_MEMBERS): roles.ts passes
    // their whole changes to `audit` itself. Read from the event only when it names them all.
    case 'role-member.put-many': {
      const after = event.after as { members?: MemberLike[]; created?: number; updated?: number } | null;
      const members = after?.members;
      if (!Array.isArray(members)) throw new Error(`audit ${type} of ${target} names no members`);
      if ((after?.created ?? 0) + (after?.updated ?? 0) > members.length) throw new Error(`audit ${type} of ${target} names only some members`);
      return members.map((member) => ({ scope: 'member', key: member.principal }));
    }
    // roles.ts applyReviews passes its whole changes to `audit`; read from the event only when it names every member.
    case 'review.extend':
    case 'review.remove': {
      const before = event.before as { members?: MemberLike[]; memberCount?: number } | null;
      const members = before?.members;
      if (!Array.isArray(members) || (before?.memberCount ?? 0) > members.length) throw new Error(`audit ${type} of ${target} names only some members`);
      return members.map((member) => ({ scope: 'member', key: member.principal }));
    }
    case 'role.put':
      return roleChanges(domainOfRole(target), event.before as RoleLike | null, event.after as RoleDiffLike | null);
    case 'role.delete':
      return [{ scope: 'domain', key: domainOfRole(target) }];
    case 'domain.create':
    case 'domain.update':
    case 'domain.delete':
      return [{ scope: 'domain', key: target }];
    case 'token.revoke':
    case 'session.revoke': {
      const jti = (event.after as { jti?: unknown } | null)?.jti;
      if (typeof jti !== 'string') throw new Error(`audit ${event.type} names no jti`);
      return [{ scope: 'token', key: jti }];
    }
    // Not read by any token decision a cache holds: certificates are issued under new serials,
    // join tokens, CA generations and signing keys have their own refresh.
    case 'certificate.issue':
    // A change waiting for approval changes nothing until applied (its own event then).
    case 'approval.request':
    case 'approval.approve':
    case 'approval.reject':
    case 'approval.fail':
    // A person's binding to their OpenID Connect identity is read at sign-in only, from the database.
    case 'person.bind':
    case 'person.unbind':
    case 'join-token.create':
    case 'join-token.use':
    case 'join-token.void':
    case 'join-token.delete':
    case 'ca.init':
    case 'ca.prepare':
    case 'ca.activate':
    case 'ca.retire':
    case 'ca.remove':
    case 'signing-key.create':
    case 'signing-key.prepare':
    case 'signing-key.activate':
    case 'signing-key.retire':
    case 'signing-key.remove':
      return [];
    default:
      throw new Error(`audit type ${type} has no registry change mapping (storage/sql/changes.ts)`);
  }
}

/** A role.put: each member added, removed or with a new expiry, and the domain when the role's lifetime limit changed. */
function roleChanges(domain: string, before: RoleLike | null, after: RoleDiffLike | null): RegistryChange[] {
  const changes: RegistryChange[] = [];
  const listChanged = (name: 'actors' | 'impersonators'): boolean => JSON.stringify(before?.[name] ?? []) !== JSON.stringify(after?.[name] ?? []);
  // A role's actors, impersonators and idTokenSubjects are read with each of its memberships (HeldRole.delegation), as its lifetime limit is.
  const roleChanged =
    (before?.tokenMaxLifetime ?? null) !== (after?.tokenMaxLifetime ?? null) ||
    listChanged('actors') ||
    listChanged('impersonators') ||
    (before?.idTokenSubjects ?? false) !== (after?.idTokenSubjects ?? false);
  if (roleChanged) changes.push({ scope: 'domain', key: domain });
  const lists: [readonly (MemberLike | string)[] | undefined, number | undefined][] = [
    [after?.added, after?.addedCount],
    [after?.removed, after?.removedCount],
    [after?.expiryChanged, after?.expiryChangedCount],
  ];
  for (const [list = [], count = 0] of lists) {
    if (count > list.length) throw new Error(`audit role.put of ${domain} names only some members`);
    for (const item of list) changes.push({ scope: 'member', key: typeof item === 'string' ? item : item.principal });
  }
  return changes;
}

/** `<domain>:role.<name>` (context.ts roleTarget); domain names hold no ':'. */
function domainOfRole(target: string): string {
  const colon = target.indexOf(':');
  if (colon <= 0) throw new Error(`role target ${target} names no domain`);
  return target.slice(0, colon);
}

/**
 * Per transaction: the changes recorded so far (one row per scope and key is enough), numbered and
 * written when the transaction's work is done (writeChanges), and told to the listeners when it ends.
 * Numbered 0 until then.
 */
export const pendingChanges = new WeakMap<SqlExecutor, Map<string, FeedRow>>();

/**
 * Records `changes` in the transaction `tx`. They are written at its end, all at once
 * (writeChanges): the change counter, whose row every change of every tenant takes, is then
 * held from there to the commit only, however many changes the transaction made.
 */
export async function recordChanges(ctx: SqlContext, tx: SqlExecutor, changes: readonly RegistryChange[]): Promise<void> {
  let pending = pendingChanges.get(tx);
  const now = pending === undefined;
  // A transaction not opened through the context's driver (none today): written at once.
  pending ??= new Map();
  const at = ctx.now();
  for (const change of changes) {
    const id = `${change.scope}\u0000${change.key}`;
    if (pending.has(id)) continue;
    const row = { seq: 0, scope: change.scope, key: change.key };
    pending.set(id, row);
    recordedAt.set(row, at);
  }
  if (now) await writeChanges(tx, ctx.db.dialect, pending);
}

/** When each pending change was recorded: the time its row carries (by which the feed is pruned). */
const recordedAt = new WeakMap<FeedRow, number>();

/** Rows of registry_changes one INSERT writes: 4,000 parameters, far below either database's limit (PostgreSQL 65,535; SQLite 32,766). */
const CHANGE_ROWS = 1000;

/**
 * Numbers and writes the changes of `pending` not written yet: the counter taken once for all of
 * them, the rows inserted 1,000 a statement, and on PostgreSQL one notification (sent at commit).
 */
export async function writeChanges(tx: SqlExecutor, dialect: 'sqlite' | 'postgres', pending: Map<string, FeedRow>): Promise<void> {
  const rows = [...pending.values()].filter((row) => row.seq === 0);
  if (rows.length === 0) return;
  // An upsert rather than a plain UPDATE, so an emptied table (an operator's TRUNCATE) starts again.
  const next = await tx.get<{ seq: number }>(
    `INSERT INTO registry_change_counter (id, seq) VALUES (1, ?)
     ON CONFLICT (id) DO UPDATE SET seq = registry_change_counter.seq + ? RETURNING seq`,
    [rows.length, rows.length],
  );
  if (next === undefined) throw new Error('the registry change counter did not answer');
  let seq = Number(next.seq) - rows.length;
  for (const row of rows) row.seq = ++seq;
  for (let start = 0; start < rows.length; start += CHANGE_ROWS) {
    const chunk = rows.slice(start, start + CHANGE_ROWS);
    await tx.run(
      `INSERT INTO registry_changes (seq, at, scope, key) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}`,
      chunk.flatMap((row) => [row.seq, recordedAt.get(row) ?? 0, row.scope, row.key]),
    );
  }
  if (dialect === 'postgres') await tx.get('SELECT pg_notify(?, ?) AS sent', [CHANGE_CHANNEL, '']);
}

/** The newest change number committed. */
export async function changeCounter(db: SqlExecutor): Promise<number> {
  const row = await db.get<{ seq: number }>('SELECT seq FROM registry_change_counter WHERE id = 1');
  return Number(row?.seq ?? 0);
}

/** Up to `limit` changes after `after`, in order. */
export async function readChanges(db: SqlExecutor, after: number, limit: number): Promise<FeedRow[]> {
  const rows = await db.all<{ seq: number; scope: string; key: string }>('SELECT seq, scope, key FROM registry_changes WHERE seq > ? ORDER BY seq LIMIT ?', [
    after,
    limit,
  ]);
  return rows.map((row) => ({ seq: Number(row.seq), scope: row.scope as ChangeScope, key: row.key }));
}

/**
 * Deletes the oldest changes: those recorded before `before` and numbered below every change
 * recorded since, so only a prefix of the feed goes, never rows in its middle (a row's time is
 * its writer's clock, which may lag behind the others'). Returns how many went. A reader still
 * checks that the rows it reads follow on from its position (registry-cache.ts).
 */
export async function pruneChanges(db: SqlExecutor, before: number): Promise<number> {
  const { changes } = await db.run(
    `DELETE FROM registry_changes
     WHERE at < ? AND seq < COALESCE((SELECT MIN(seq) FROM registry_changes WHERE at >= ?), ?)`,
    [before, before, Number.MAX_SAFE_INTEGER],
  );
  return changes;
}

// What every SqlStore operation works with, and the lookups and locks they share.
//
// On PostgreSQL, where instances change the same rows concurrently, a change first locks
// the row it hangs off (the domain, service or role), so its checks still hold when it
// writes. SQLite transactions run one at a time and need no locks.
//
// Lock order (PostgreSQL), so that two changes never wait for each other:
// 0. first, for a write applying a pending change on its approval, that change's row
//    (sql/approvals.ts claimApproval); nothing locks a pending change after another row;
// 1. for a change that may leave sys.auth:role.admin without an active member sooner, the
//    advisory lock of system-admins.ts guardSystemAdmins, before any row lock of its own;
// 2. the rows the change hangs off: domain (FOR SHARE to add under it, FOR UPDATE to change it),
//    then the service (lockService) or the role (lockRole), then the rows they own;
// 3. last, the registry change counter: every registry change takes it, and holds it to the
//    commit. `audit` only collects a transaction's changes (sql/changes.ts recordChanges); the
//    transaction below writes them (writeChanges) once its function has returned, so the counter
//    comes after every other lock of the change. Nothing else may take the counter's row, nor
//    lock a row after it: either would deadlock with any change of that row.

import type { SqlDriver, SqlExecutor, SqlValue } from '../drivers/driver.ts';
import { NotFoundError } from '../errors.ts';
import type { Actor, AuditEvent, AuditNote, Role } from '../records.ts';
import { changesOfAudit, pendingChanges, recordChanges, writeChanges } from './changes.ts';
import type { FeedRow, RegistryChange } from './changes.ts';

/** Told of a transaction's registry changes when it ends; `committed` false when it failed (it may or may not have committed). */
export type ChangeListener = (changes: FeedRow[], committed: boolean) => void;
import { auditDomain } from './audit-domain.ts';
import { checkSystemAdmins } from './system-admins.ts';
import { toRole } from './rows.ts';
import type { DomainRow, MemberRow, RoleRow, ServiceRow } from './rows.ts';

export interface SqlContext {
  readonly db: SqlDriver;
  readonly now: () => number;
  /** Appended to a SELECT to lock the rows it reads against change (or '' where not needed). */
  readonly forShare: string;
  /** Appended to a SELECT to lock the rows it reads for change (or '' where not needed). */
  readonly forUpdate: string;
  /** Told, as soon as each transaction has ended, of the registry changes it recorded (storage/registry-cache.ts evicts them). */
  readonly changeListeners: Set<ChangeListener>;
}

export function createContext(driver: SqlDriver, now: () => number): SqlContext {
  const locking = driver.dialect === 'postgres';
  const changeListeners = new Set<ChangeListener>();
  return { db: telling(driver, changeListeners, now), now, forShare: locking ? ' FOR SHARE' : '', forUpdate: locking ? ' FOR UPDATE' : '', changeListeners };
}

/**
 * `driver`, whose transactions collect the registry changes they record and tell `listeners` of
 * them once the transaction has ended, before its caller hears back: this instance's own
 * changes take effect in its cache at once. Told after a failure too (the commit may have
 * happened): evicting what did not change costs only a reload.
 */
function telling(driver: SqlDriver, listeners: Set<ChangeListener>, now: () => number): SqlDriver {
  return {
    dialect: driver.dialect,
    all: (sql, params) => driver.all(sql, params),
    get: (sql, params) => driver.get(sql, params),
    run: (sql, params) => driver.run(sql, params),
    exec: (sql) => driver.exec(sql),
    close: () => driver.close(),
    async transaction(fn, options) {
      const recorded = new Map<string, FeedRow>();
      let committed = false;
      try {
        const result = await driver.transaction(async (tx) => {
          recorded.clear();
          pendingChanges.set(tx, recorded);
          const value = await fn(tx);
          await checkSystemAdmins(tx, now);
          // Last, so the change counter's row is held from here to the commit only.
          await writeChanges(tx, driver.dialect, recorded);
          return value;
        }, options);
        committed = true;
        return result;
      } finally {
        if (recorded.size > 0) for (const listener of listeners) listener([...recorded.values()], committed);
      }
    },
  };
}

/** The actor of changes no caller asked for: key rotation steps, the first CA. */
export const SYSTEM: Actor = { actor: 'system' };

/**
 * Writes a change's audit event, and the registry changes it stands for, inside the change's own
 * transaction: `feed` when given (a change of many members, whose audit names only some of them),
 * else those sql/changes.ts reads from the event.
 */
export async function audit(
  ctx: SqlContext,
  tx: SqlExecutor,
  by: Actor,
  change: { type: string; target: string; before: unknown; after: unknown },
  feed?: readonly RegistryChange[],
): Promise<void> {
  await insertAudit(tx, { at: ctx.now(), actor: by.actor, ...change });
  await recordChanges(ctx, tx, feed ?? changesOfAudit(change));
}

/**
 * An applied change's `after` with the note's reason and approval beside its fields (when given);
 * a deletion's null `after` becomes an object of them only when there is a note.
 */
export function withNote(after: unknown, note: AuditNote | undefined): unknown {
  const extra = { ...(note?.reason === undefined ? {} : { reason: note.reason }), ...(note?.approval === undefined ? {} : { approval: note.approval }) };
  if (Object.keys(extra).length === 0) return after;
  if (after === null || after === undefined) return extra;
  return { ...(after as object), ...extra };
}

export async function insertAudit(db: SqlExecutor, event: Omit<AuditEvent, 'id'>): Promise<void> {
  await db.run(`INSERT INTO audit_events ${AUDIT_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?)`, auditValues(event));
}

export const AUDIT_COLUMNS = '(at, actor, type, target, before_json, after_json, domain)';

/** An event's values in AUDIT_COLUMNS order. */
export function auditValues(event: Omit<AuditEvent, 'id'>): SqlValue[] {
  return [event.at, event.actor, event.type, event.target, auditJson(event.before), auditJson(event.after), auditDomain(event.type, event.target)];
}

/**
 * The most characters an event's `before` or `after` is stored with. No event the store writes
 * comes near (lists of members name at most 100 of them); one that would is stored as a marker
 * saying so, so a page of the audit log stays readable.
 */
export const AUDIT_JSON_MAX = 128 * 1024;

function auditJson(value: unknown): string {
  const json = JSON.stringify(value ?? null);
  if (json.length <= AUDIT_JSON_MAX) return json;
  return JSON.stringify({ truncated: true, characters: json.length, note: `over ${AUDIT_JSON_MAX} characters: not stored` });
}

/**
 * A token lifetime limit is whole seconds above zero. Checked here rather than left to the
 * column's CHECK, so both databases refuse the same values with the same error.
 */
export function checkLifetime(seconds: number | null | undefined): void {
  if (seconds === undefined || seconds === null) return;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new RangeError(`tokenMaxLifetime must be a whole number of seconds above zero, not ${seconds}`);
  }
}

/**
 * Deletes the rows of `table` whose expires_at is at or before `now`, oldest first, about
 * `limit` at a time (rows sharing the last expiry go together), so one call's cost stays
 * bounded however much has piled up. Returns how many went.
 */
export async function pruneExpired(db: SqlExecutor, table: string, now: number, limit: number): Promise<number> {
  // A cut-off time rather than "key IN (oldest rows)": both databases then delete with one
  // range scan of the expires_at index, where PostgreSQL would hash-join the whole table.
  const { changes } = await db.run(
    `DELETE FROM ${table} WHERE expires_at <= (
       SELECT MAX(expires_at) FROM (SELECT expires_at FROM ${table} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?) oldest
     )`,
    [now, limit],
  );
  return changes;
}

export function roleTarget(domain: string, role: string): string {
  return `${domain}:role.${role}`;
}

export async function count(db: SqlExecutor, sql: string, params: SqlValue[]): Promise<number> {
  return (await db.get<{ n: number }>(sql, params))?.n ?? 0;
}

export function domainRow(db: SqlExecutor, name: string, lock = ''): Promise<DomainRow | undefined> {
  return db.get<DomainRow>(`SELECT * FROM domains WHERE name = ?${lock}`, [name]);
}

/** Holds the domain in place (no delete) until the transaction ends. */
export async function holdDomain(ctx: SqlContext, tx: SqlExecutor, name: string): Promise<DomainRow> {
  const row = await domainRow(tx, name, ctx.forShare);
  if (!row) throw new NotFoundError(`domain ${name} not found`);
  return row;
}

export function serviceRow(db: SqlExecutor, principal: string, lock = ''): Promise<ServiceRow | undefined> {
  return db.get<ServiceRow>(`SELECT * FROM services WHERE principal = ?${lock}`, [principal]);
}

export async function lockService(ctx: SqlContext, tx: SqlExecutor, principal: string): Promise<ServiceRow> {
  const row = await serviceRow(tx, principal, ctx.forUpdate);
  if (!row) throw new NotFoundError(`service ${principal} not found`);
  return row;
}

export async function lockRole(ctx: SqlContext, tx: SqlExecutor, domain: string, name: string): Promise<RoleRow> {
  const row = await tx.get<RoleRow>(`SELECT * FROM roles WHERE domain = ? AND name = ?${ctx.forUpdate}`, [domain, name]);
  if (!row) throw new NotFoundError(`role ${roleTarget(domain, name)} not found`);
  return row;
}

/** The role of `row` with its members by principal: all of them, or the first `memberLimit`. */
export async function loadRole(db: SqlExecutor, row: RoleRow, memberLimit?: number): Promise<Role> {
  const limit = memberLimit === undefined ? '' : ' LIMIT ?';
  const members = await db.all<MemberRow>(`SELECT * FROM role_members WHERE domain = ? AND role = ? ORDER BY principal${limit}`, [
    row.domain,
    row.name,
    ...(memberLimit === undefined ? [] : [memberLimit]),
  ]);
  return toRole(row, members);
}

// One-time join tokens (Athenz Copper Argos, SPIRE join_token): an admin creates one for a
// principal, a new instance trades it once for its first certificate. Only the token's keyed
// hash is stored, and no audit event carries even that.

import { ADMIN_ROLE, splitPrincipal } from '../../policy/names.ts';
import type { SqlExecutor } from '../drivers/driver.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Actor, JoinTokenInfo, JoinTokenListQuery, JoinTokenRecord } from '../records.ts';
import { audit, lockService, pruneExpired } from './context.ts';
import type { SqlContext } from './context.ts';

/** ConflictError when `principal` holds another domain's admin role, now, that the maker does not administer. */
async function refuseForeignAdmin(tx: SqlExecutor, principal: string, now: number, mayAdminister: (domain: string) => boolean): Promise<void> {
  const own = splitPrincipal(principal)?.domain ?? '';
  const held = await tx.all<{ domain: string }>(
    'SELECT domain FROM role_members WHERE principal = ? AND role = ? AND domain <> ? AND (expires_at IS NULL OR expires_at > ?)',
    [principal, ADMIN_ROLE, own, now],
  );
  const missing = held.map((row) => row.domain).filter((domain) => !mayAdminister(domain));
  if (missing.length === 0) return;
  const roles = missing.map((domain) => `${domain}:role.${ADMIN_ROLE}`).join(' and ');
  throw new ConflictError(`${principal} was given ${roles} while this join token was being made; a join token for it now needs ${roles} too`);
}

// Tokens live minutes, and creating one is an admin's act: each creation clears out the
// expired ones, in a bounded batch, so the table holds little beyond the live tokens.
const PRUNE_LIMIT = 1000;

export function createJoinToken(
  ctx: SqlContext,
  token: Omit<JoinTokenRecord, 'createdAt' | 'usedAt'>,
  by: Actor,
  mayAdminister: (domain: string) => boolean = () => true,
): Promise<JoinTokenRecord> {
  return ctx.db.transaction(async (tx) => {
    // Held until commit, so the service cannot be deleted under its new token, nor given another
    // domain's admin role beside it: a grant locks the service too (roles.ts writeMember) and voids
    // the tokens it finds, so a token is either made before the grant, and voided by it, or after,
    // and refused here unless its maker administers that domain too.
    await lockService(ctx, tx, token.principal);
    const createdAt = ctx.now();
    await refuseForeignAdmin(tx, token.principal, createdAt, mayAdminister);
    await pruneExpired(tx, 'join_tokens', createdAt, PRUNE_LIMIT);
    const { changes } = await tx.run(
      `INSERT INTO join_tokens (id, principal, hash, created_at, expires_at, used_at)
       VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (id) DO NOTHING`,
      [token.id, token.principal, token.hash, createdAt, token.expiresAt],
    );
    if (changes === 0) throw new ConflictError(`join token id ${token.id} is already taken`);
    const created: JoinTokenRecord = { ...token, createdAt, usedAt: null };
    await audit(ctx, tx, by, {
      type: 'join-token.create',
      target: token.principal,
      before: null,
      after: { id: token.id, principal: token.principal, expiresAt: token.expiresAt },
    });
    return created;
  });
}

export function consumeJoinToken(ctx: SqlContext, id: string, hash: string, now: number): Promise<{ principal: string } | null> {
  return ctx.db.transaction(async (tx) => {
    // The one statement that decides: of concurrent consumers, on one instance or many, the
    // database lets exactly one see the row unused. A transaction only to keep the audit
    // event with it (and, on SQLite, to run the write on the writer connection).
    const row = await tx.get<{ principal: string }>(
      `UPDATE join_tokens SET used_at = ?
       WHERE id = ? AND hash = ? AND used_at IS NULL AND expires_at > ?
       RETURNING principal`,
      [now, id, hash, now],
    );
    if (!row) return null;
    const { principal } = row;
    // The instance that used the token is acting as the principal the token names.
    await audit(ctx, tx, { actor: principal }, { type: 'join-token.use', target: principal, before: null, after: { id, principal, usedAt: now } });
    return { principal };
  });
}

/**
 * Voids the outstanding (unused, unexpired) join tokens of `principals`, inside the caller's
 * transaction: a grant of another domain's admin role calls it (roles.ts writeMembers), as whoever
 * made those tokens may not have been trusted with that role. One audit `join-token.void` for each
 * principal that had any. Returns how many went in all.
 */
export async function voidJoinTokens(ctx: SqlContext, tx: SqlExecutor, principals: readonly string[], grantedRole: string, by: Actor): Promise<number> {
  const voided = new Map<string, string[]>();
  for (let start = 0; start < principals.length; start += IN_LIST) {
    const chunk = principals.slice(start, start + IN_LIST);
    const rows = await tx.all<{ id: string; principal: string }>(
      `DELETE FROM join_tokens WHERE principal IN (${chunk.map(() => '?').join(', ')}) AND used_at IS NULL AND expires_at > ? RETURNING id, principal`,
      [...chunk, ctx.now()],
    );
    for (const row of rows) voided.set(row.principal, [...(voided.get(row.principal) ?? []), row.id]);
  }
  let total = 0;
  for (const principal of [...voided.keys()].sort()) {
    const ids = voided.get(principal)!.sort();
    total += ids.length;
    await audit(ctx, tx, by, {
      type: 'join-token.void',
      target: principal,
      before: null,
      after: { principal, grantedRole, joinTokensVoided: ids.length, ids },
    });
  }
  return total;
}

/** Names one `IN (...)` list carries: 1,000, far below either database's parameter limit. */
export const IN_LIST = 1000;

const OUTSTANDING = 'used_at IS NULL AND expires_at > ?';

/** A page of the principal's outstanding join tokens, oldest first (createdAt, then id). */
export async function listJoinTokens(ctx: SqlContext, principal: string, query: JoinTokenListQuery): Promise<JoinTokenInfo[]> {
  const after = query.after ? ' AND (created_at > ? OR (created_at = ? AND id > ?))' : '';
  const position = query.after ? [query.after.createdAt, query.after.createdAt, query.after.id] : [];
  const rows = await ctx.db.all<JoinTokenRow>(
    `SELECT id, principal, created_at, expires_at, used_at FROM join_tokens
     WHERE principal = ? AND ${OUTSTANDING}${after} ORDER BY created_at, id LIMIT ?`,
    [principal, query.now, ...position, query.limit],
  );
  return rows.map(toInfo);
}

/** The join token with this id, outstanding at `now`; null otherwise. */
export async function getJoinToken(ctx: SqlContext, id: string, now: number): Promise<JoinTokenInfo | null> {
  const row = await ctx.db.get<JoinTokenRow>(`SELECT id, principal, created_at, expires_at, used_at FROM join_tokens WHERE id = ? AND ${OUTSTANDING}`, [
    id,
    now,
  ]);
  return row ? toInfo(row) : null;
}

/** Deletes the principal's outstanding join token; NotFoundError when it has none with this id. Audit `join-token.delete`. */
export function deleteJoinToken(ctx: SqlContext, principal: string, id: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    const row = await tx.get<{ expires_at: number }>(`DELETE FROM join_tokens WHERE id = ? AND principal = ? AND ${OUTSTANDING} RETURNING expires_at`, [
      id,
      principal,
      ctx.now(),
    ]);
    if (!row) throw new NotFoundError(`${principal} has no outstanding join token ${id}`);
    await audit(ctx, tx, by, {
      type: 'join-token.delete',
      target: principal,
      before: { id, principal, expiresAt: Number(row.expires_at) },
      after: null,
    });
  });
}

interface JoinTokenRow {
  id: string;
  principal: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

function toInfo(row: JoinTokenRow): JoinTokenInfo {
  return { id: row.id, principal: row.principal, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
}

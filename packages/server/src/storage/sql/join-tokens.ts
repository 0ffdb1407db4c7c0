// One-time join tokens (Athenz Copper Argos, SPIRE join_token): an admin creates one for a
// principal, a new instance trades it once for its first certificate. Only the token's keyed
// hash is stored, and no audit event carries even that.

import { ConflictError } from '../errors.ts';
import type { Actor, JoinTokenRecord } from '../records.ts';
import { audit, lockService, pruneExpired } from './context.ts';
import type { SqlContext } from './context.ts';

// Tokens live minutes, and creating one is an admin's act: each creation clears out the
// expired ones, in a bounded batch, so the table holds little beyond the live tokens.
const PRUNE_LIMIT = 1000;

export function createJoinToken(
  ctx: SqlContext,
  token: Omit<JoinTokenRecord, 'createdAt' | 'usedAt'>,
  by: Actor,
): Promise<JoinTokenRecord> {
  return ctx.db.transaction(async (tx) => {
    // Held until commit, so the service cannot be deleted under its new token.
    await lockService(ctx, tx, token.principal);
    const createdAt = ctx.now();
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

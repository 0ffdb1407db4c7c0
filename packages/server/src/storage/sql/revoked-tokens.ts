// Revoked access tokens (RFC 7009), by jti. A row is only needed while the token could still
// be presented, so each revocation also clears out rows whose token has since expired.

import type { Actor, RevokedToken } from '../records.ts';
import { audit, pruneExpired } from './context.ts';
import type { SqlContext } from './context.ts';
import type { RevocationEvent } from '../store.ts';

// Revocations are rare; a bound keeps the one after a long quiet spell quick all the same.
const PRUNE_LIMIT = 1000;

export function revokeToken(ctx: SqlContext, token: RevokedToken, by: Actor, type: RevocationEvent = 'token.revoke'): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    await pruneExpired(tx, 'revoked_tokens', ctx.now(), PRUNE_LIMIT);
    const { changes } = await tx.run('INSERT INTO revoked_tokens (jti, principal, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING', [
      token.jti,
      token.principal,
      token.expiresAt,
    ]);
    // Revoking again changes nothing, so it records nothing. The event never holds the token.
    if (changes === 0) return;
    await audit(ctx, tx, by, {
      type,
      target: token.principal,
      before: null,
      after: { jti: token.jti, expiresAt: token.expiresAt },
    });
  });
}

// On introspection's path: one lookup by primary key, and no writes.
export async function isTokenRevoked(ctx: SqlContext, jti: string, now: number): Promise<boolean> {
  const row = await ctx.db.get('SELECT 1 AS revoked FROM revoked_tokens WHERE jti = ? AND expires_at > ?', [jti, now]);
  return row !== undefined;
}

// Token signing keys: rows instances race for. Each step is a single conditional statement,
// so the database picks exactly one winner, and only the winner writes the audit event.
// Events never carry the sealed private keys. (The CA's generations work alike: ca.ts.)

import { ConflictError } from '../errors.ts';
import type { SigningKeyRecord, SigningKeyState } from '../records.ts';
import { SYSTEM, audit } from './context.ts';
import type { SqlContext } from './context.ts';
import { toSigningKey } from './rows.ts';
import type { SigningKeyRow } from './rows.ts';

const TRANSITION_EVENTS: Record<SigningKeyState, string> = {
  next: 'signing-key.prepare',
  active: 'signing-key.activate',
  retired: 'signing-key.retire',
};

export async function listSigningKeys(ctx: SqlContext): Promise<SigningKeyRecord[]> {
  return (await ctx.db.all<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at, kid')).map(toSigningKey);
}

export function insertSigningKey(ctx: SqlContext, key: SigningKeyRecord): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    // No conflict target: the key yields to the one-per-state index as well as to its kid.
    const { changes } = await tx.run(
      `INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private_key, created_at, activates_at, retired_at, remove_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [key.kid, key.alg, key.state, key.publicJwk, key.sealedPrivateKey, key.createdAt, key.activatesAt, key.retiredAt, key.removeAt],
    );
    if (changes === 0) return false;
    await audit(ctx, tx, SYSTEM, { type: 'signing-key.create', target: key.kid, before: null, after: describeSigningKey(key) });
    return true;
  });
}

export async function transitionSigningKey(
  ctx: SqlContext,
  kid: string,
  from: SigningKeyState,
  to: SigningKeyState,
  times: { retiredAt?: number; removeAt?: number },
): Promise<boolean> {
  try {
    return await ctx.db.transaction(async (tx) => {
      const { changes } = await tx.run(
        `UPDATE signing_keys SET state = ?, retired_at = COALESCE(?, retired_at), remove_at = COALESCE(?, remove_at)
         WHERE kid = ? AND state = ?`,
        [to, times.retiredAt ?? null, times.removeAt ?? null, kid, from],
      );
      if (changes === 0) return false;
      const row = await tx.get<SigningKeyRow>('SELECT * FROM signing_keys WHERE kid = ?', [kid]);
      const after = row ? describeSigningKey(toSigningKey(row)) : null;
      await audit(ctx, tx, SYSTEM, { type: TRANSITION_EVENTS[to], target: kid, before: { state: from }, after });
      return true;
    });
  } catch (error) {
    // Another key already holds the state this one was moving to.
    if (error instanceof ConflictError) return false;
    throw error;
  }
}

export function removeSigningKey(ctx: SqlContext, kid: string): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    const { changes } = await tx.run("DELETE FROM signing_keys WHERE kid = ? AND state = 'retired'", [kid]);
    if (changes === 0) return false;
    await audit(ctx, tx, SYSTEM, { type: 'signing-key.remove', target: kid, before: { kid, state: 'retired' }, after: null });
    return true;
  });
}

function describeSigningKey(key: SigningKeyRecord): Record<string, unknown> {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    activatesAt: key.activatesAt,
    retiredAt: key.retiredAt,
    removeAt: key.removeAt,
  };
}

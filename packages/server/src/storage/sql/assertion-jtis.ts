// Replay protection for private_key_jwt assertions (RFC 7523 section 3): each client's jti is
// accepted once. The insert alone decides, against the (client_id, jti) primary key, so two
// instances given the same assertion at the same moment cannot both accept it.

import { pruneExpired } from './context.ts';
import type { SqlContext } from './context.ts';

// This is on the token endpoint's path, so expired entries are cleared now and then, in
// bounded batches, rather than on every call.
const PRUNE_INTERVAL_MS = 10_000;
const PRUNE_LIMIT = 1000;

/** When one store instance next clears out expired entries. */
export interface PruneSchedule {
  nextAt: number;
}

export async function consumeAssertionJti(
  ctx: SqlContext,
  schedule: PruneSchedule,
  clientId: string,
  jti: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  if (now >= schedule.nextAt) {
    // Moved on before the delete starts, so calls arriving meanwhile do not prune as well.
    schedule.nextAt = now + PRUNE_INTERVAL_MS;
    const pruned = await pruneExpired(ctx.db, 'assertion_jtis', now, PRUNE_LIMIT);
    // A full batch means more are waiting: the next call takes another.
    if (pruned >= PRUNE_LIMIT) schedule.nextAt = now;
  }
  const { changes } = await ctx.db.run('INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING', [
    clientId,
    jti,
    expiresAt,
  ]);
  return changes === 1;
}

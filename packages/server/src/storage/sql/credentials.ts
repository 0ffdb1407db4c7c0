// Client secrets and registered public keys. Audit events name a secret by its id only:
// its hash never leaves the client_secrets table.

import type { SqlExecutor } from '../drivers/driver.ts';
import { NotFoundError } from '../errors.ts';
import type { Actor, CreatedPageQuery, PublicKeyRecord } from '../records.ts';
import type { DeleteKeyResult, PutKeyResult } from '../store.ts';
import type { NewSecret } from '../store.ts';
import { revokeCertificatesProvedBy } from './certificates.ts';
import { recordChanges } from './changes.ts';
import { audit, lockService, serviceRow } from './context.ts';
import type { SqlContext } from './context.ts';
import { toPublicKey } from './rows.ts';
import type { PublicKeyRow, SecretRow } from './rows.ts';

/** The current secret (no end set) first, then the others by age; `table` qualifies the columns in a join. */
export function newestFirst(table?: string): string {
  const column = (name: string): string => (table ? `${table}.${name}` : name);
  return `(${column('expires_at')} IS NULL) DESC, ${column('created_at')} DESC, ${column('id')} DESC`;
}

export const NEWEST_FIRST = newestFirst();

export function addClientSecret(ctx: SqlContext, principal: string, secret: NewSecret, graceUntil: number, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, principal);
    const now = ctx.now();
    await tx.run('DELETE FROM client_secrets WHERE principal = ? AND expires_at <= ?', [principal, now]);
    const live = await tx.all<SecretRow>(`SELECT * FROM client_secrets WHERE principal = ? ORDER BY ${NEWEST_FIRST}`, [principal]);
    // The new secret takes one of the two places. The newest of the others keeps the second
    // for its grace period; any older one stops now.
    const [kept, ...revoked] = live;
    const retiring: { id: string; expiresAt: number }[] = [];
    if (kept) {
      const expiresAt = Math.min(kept.expires_at ?? Infinity, graceUntil);
      if (expiresAt > now) {
        await tx.run('UPDATE client_secrets SET expires_at = ? WHERE id = ?', [expiresAt, kept.id]);
        retiring.push({ id: kept.id, expiresAt });
      } else {
        revoked.push(kept);
      }
    }
    for (const old of revoked) await tx.run('DELETE FROM client_secrets WHERE id = ?', [old.id]);
    await insertSecret(tx, principal, secret, now);
    await audit(ctx, tx, by, {
      type: 'client-secret.add',
      target: principal,
      before: null,
      after: { id: secret.id, retiring, revoked: revoked.map((old) => old.id) },
    });
  });
}

export async function insertSecret(tx: SqlExecutor, principal: string, secret: NewSecret, now: number): Promise<void> {
  await tx.run('INSERT INTO client_secrets (id, principal, hash, created_at, expires_at) VALUES (?, ?, ?, ?, NULL)', [secret.id, principal, secret.hash, now]);
}

export async function putPublicKey(ctx: SqlContext, principal: string, kid: string, pem: string, by: Actor): Promise<PutKeyResult> {
  const result = await ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, principal);
    const existing = await publicKeyRow(tx, principal, kid);
    const now = ctx.now();
    let certificatesRevoked = 0;
    if (existing) {
      await tx.run('UPDATE public_keys SET pem = ?, created_at = ? WHERE principal = ? AND kid = ?', [pem, now, principal, kid]);
      // Another key under the same kid removes the old one; the same PEM again changes nothing.
      if (existing.pem !== pem) certificatesRevoked = await keyRemoved(tx, principal, kid, now);
    } else {
      await tx.run('INSERT INTO public_keys (principal, kid, pem, created_at) VALUES (?, ?, ?, ?)', [principal, kid, pem, now]);
    }
    const before = existing ? { kid, pem: existing.pem } : null;
    const after = { kid, pem, ...(certificatesRevoked > 0 && { certificatesRevoked }) };
    await audit(ctx, tx, by, { type: 'public-key.put', target: principal, before, after });
    return { created: !existing, certificatesRevoked, removed: existing !== undefined && existing.pem !== pem };
  });
  if (result.removed) await dateKeyRemovalAgain(ctx, principal);
  return { created: result.created, certificatesRevoked: result.certificatesRevoked };
}

export async function deletePublicKey(ctx: SqlContext, principal: string, kid: string, by: Actor): Promise<DeleteKeyResult> {
  const result = await ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, principal);
    const existing = await publicKeyRow(tx, principal, kid);
    if (!existing) throw new NotFoundError(`public key ${kid} of ${principal} not found`);
    await tx.run('DELETE FROM public_keys WHERE principal = ? AND kid = ?', [principal, kid]);
    const certificatesRevoked = await keyRemoved(tx, principal, kid, ctx.now());
    const before = { kid, pem: existing.pem, certificatesRevoked };
    await audit(ctx, tx, by, { type: 'public-key.delete', target: principal, before, after: null });
    return { certificatesRevoked };
  });
  await dateKeyRemovalAgain(ctx, principal);
  return result;
}

/**
 * Ends every token of the service issued until now, as a key removal does (the same date,
 * oauth2/key-removal.ts), without removing a key: for a credential reset after a leak, where a
 * stolen secret may have got tokens that must not outlive it. NotFoundError for an unknown service.
 */
export async function endServiceTokens(ctx: SqlContext, principal: string, by: Actor): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, principal);
    const now = ctx.now();
    await dateKeyRemoval(tx, principal, now);
    await audit(ctx, tx, by, { type: 'service.tokens-end', target: principal, before: null, after: { endedAt: new Date(now).toISOString() } });
  });
  await dateKeyRemovalAgain(ctx, principal);
}

/** The service's keys, oldest first: all, or a page of them. */
export async function listPublicKeys(ctx: SqlContext, principal: string, page?: CreatedPageQuery): Promise<PublicKeyRecord[]> {
  const after = page?.after === undefined ? '' : ' AND created_at >= ? AND (created_at > ? OR kid > ?)';
  const position = page?.after === undefined ? [] : [page.after.createdAt, page.after.createdAt, page.after.id];
  const limit = page === undefined ? '' : ' LIMIT ?';
  const rows = await ctx.db.all<PublicKeyRow>(`SELECT * FROM public_keys WHERE principal = ?${after} ORDER BY created_at, kid${limit}`, [
    principal,
    ...position,
    ...(page === undefined ? [] : [page.limit]),
  ]);
  return rows.map(toPublicKey);
}

/**
 * Key `kid` of the service is gone (deleted, or replaced by another PEM). Dates the removal: every
 * token of the service issued until now ends (oauth2/key-removal.ts); never moved back, which
 * would bring ended tokens back. And revokes the live certificates the key proved (key-assertion)
 * with their renewals; returns how many. Reason `superseded`, not keyCompromise: a key is removed
 * when it is stolen but also when it is simply retired, and the removal does not say which.
 */
async function keyRemoved(tx: SqlExecutor, principal: string, kid: string, now: number): Promise<number> {
  await dateKeyRemoval(tx, principal, now);
  return revokeCertificatesProvedBy(tx, principal, kid, 'superseded', now);
}

/**
 * Moves the service's key removal to `now` unless it is later already. Called inside the
 * removal's transaction (so a crash right after the commit still ends the tokens issued before)
 * and once more after the commit: a token request that read the key before the commit began
 * before the commit, and so before this second date. Dated only inside, a transaction that
 * crossed a second boundary (PostgreSQL runs requests beside it) would leave tokens of the next
 * second, made with the removed key, alive.
 */
async function dateKeyRemoval(db: SqlExecutor, principal: string, now: number): Promise<void> {
  const later = 'CASE WHEN key_removed_at IS NULL OR key_removed_at < ? THEN ? ELSE key_removed_at END';
  await db.run(`UPDATE services SET key_removed_at = ${later} WHERE principal = ?`, [now, now, principal]);
}

/**
 * dateKeyRemoval after the commit, as a change of its own: caches of the service reload it. The
 * service row first, then the change counter, the order of every change (context.ts); a service
 * deleted in between needs no date.
 */
function dateKeyRemovalAgain(ctx: SqlContext, principal: string): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    if (!(await serviceRow(tx, principal, ctx.forUpdate))) return;
    await recordChanges(ctx, tx, [{ scope: 'service', key: principal }]);
    // The clock read last, as late as it can be.
    await dateKeyRemoval(tx, principal, ctx.now());
  });
}

function publicKeyRow(db: SqlExecutor, principal: string, kid: string): Promise<PublicKeyRow | undefined> {
  return db.get<PublicKeyRow>('SELECT * FROM public_keys WHERE principal = ? AND kid = ?', [principal, kid]);
}

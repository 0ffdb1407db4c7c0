// Certificates the CA issued, by serial: what lets renewal and mTLS refuse a revoked serial,
// an admin revoke one, and the CRL list the revoked ones until they expire.
//
// Lineage: a certificate issued by renewal records the serial it renewed (renewed_from), so
// revoking one revokes everything renewed from it, transitively: a stolen certificate renewed
// before the theft was noticed dies with it. Only revocation follows lineage, on purpose:
// expiry does not (each certificate has its own notAfter), a bootstrap (join token, key, OIDC)
// starts a new lineage, and tokens already issued to a certificate live out their lifetime.
//
// Rows are kept after notAfter: nothing prunes them yet. An expired certificate is worthless
// to an attacker and costs a row, and every lookup here goes through the serial or an index
// whose scan stops at the unexpired rows, so the kept rows slow nothing down.

import { ConflictError, NotFoundError } from '../errors.ts';
import type { SqlExecutor, SqlValue } from '../drivers/driver.ts';
import type { Actor, CertificateListQuery, CertificateRecord, CertificateStatus, NewCertificate, RevokedCertificate } from '../records.ts';
import { audit, lockService, serviceRow } from './context.ts';
import type { SqlContext } from './context.ts';
import { toCertificate } from './rows.ts';
import type { CertificateRow } from './rows.ts';

// As the certificate carries it, so a lookup by the serial read from a certificate matches.
const SERIAL = /^[0-9a-f]+$/;

export async function recordCertificate(ctx: SqlContext, certificate: NewCertificate, by: Actor): Promise<void> {
  await recordCertificates(ctx, [{ certificate, by }]);
}

/** All in one transaction: one commit (one fsync) for a group of certificates the CA issued together. */
export async function recordCertificates(ctx: SqlContext, entries: readonly { certificate: NewCertificate; by: Actor }[]): Promise<void> {
  for (const { certificate } of entries) {
    // The serial comes from the CA, not from a request: a bad one is a bug to surface.
    if (!SERIAL.test(certificate.serial)) throw new RangeError(`a certificate serial is lower-case hex, not ${JSON.stringify(certificate.serial)}`);
  }
  if (entries.length === 0) return;
  await ctx.db.transaction(async (tx) => {
    for (const { certificate, by } of entries) {
      const { serial, principal, renewedFrom } = certificate;
      const provedBy = certificate.provedBy ?? null;
      if (renewedFrom !== null) await requireLiveParent(ctx, tx, certificate);
      if (provedBy !== null) await requireProvingKey(ctx, tx, certificate);
      const { changes } = await tx.run(
        `INSERT INTO certificates
           (serial, principal, thumbprint, ca_id, not_before, not_after, issued_at,
            revoked_at, revocation_reason, renewed_from, proved_by_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?) ON CONFLICT (serial) DO NOTHING`,
        [
          serial,
          principal,
          certificate.thumbprint,
          certificate.caId,
          certificate.notBefore,
          certificate.notAfter,
          certificate.issuedAt,
          renewedFrom,
          provedBy?.kid ?? null,
        ],
      );
      if (changes === 0) throw new ConflictError(`a certificate with serial ${serial} is already recorded`);
      await audit(ctx, tx, by, {
        type: 'certificate.issue',
        target: principal,
        before: null,
        after: { serial, principal, notAfter: certificate.notAfter, ...(renewedFrom !== null && { renewedFrom }) },
      });
    }
  });
}

/**
 * A renewal is recorded only while the certificate it renews stands. The renewal proof checked
 * that already, but a revocation may have committed since; and on PostgreSQL the service row,
 * which every revocation locks for update, is held here so that a revocation either sees this
 * renewal or is seen by it, never neither.
 */
async function requireLiveParent(ctx: SqlContext, tx: SqlExecutor, certificate: NewCertificate): Promise<void> {
  const { serial, principal, renewedFrom } = certificate;
  await serviceRow(tx, principal, ctx.forShare);
  const parent = await tx.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [renewedFrom]);
  // renewedFrom comes from the CA, which found the parent: a missing or foreign one is a bug.
  if (!parent || parent.principal !== principal) {
    throw new RangeError(`certificate ${serial} renews ${String(renewedFrom)}, not a certificate of ${principal}`);
  }
  if (parent.revoked_at !== null) {
    throw new ConflictError(
      `certificate ${parent.serial} was revoked while it was being renewed; ` + 'bootstrap a new one with a join token or a registered key',
    );
  }
}

/**
 * A certificate a registered key proved is recorded only while that key is still registered as
 * the proof found it: a removal that committed since has revoked what the key proved, and would
 * miss this one. The service row is held, as removals lock it (credentials.ts).
 */
async function requireProvingKey(ctx: SqlContext, tx: SqlExecutor, certificate: NewCertificate): Promise<void> {
  const { principal, provedBy } = certificate;
  await serviceRow(tx, principal, ctx.forShare);
  const key = await tx.get<{ pem: string }>('SELECT pem FROM public_keys WHERE principal = ? AND kid = ?', [principal, provedBy!.kid]);
  if (key?.pem !== provedBy!.pem) {
    throw new ConflictError(
      `the public key ${provedBy!.kid} of ${principal} that proved this request was removed or replaced ` +
        'while the certificate was being issued; prove it again with a key registered now',
    );
  }
}

/**
 * Revokes every live certificate of `principal` that key `kid` proved (key-assertion), and the
 * renewals descending from any certificate it proved, live or expired; returns how many. Inside
 * the caller's transaction, which holds the service row (lockService), so no renewal slips in.
 */
export async function revokeCertificatesProvedBy(tx: SqlExecutor, principal: string, kid: string, reason: string, now: number): Promise<number> {
  const { changes } = await tx.run(
    `WITH RECURSIVE lineage (serial) AS (
       SELECT serial FROM certificates WHERE principal = ? AND proved_by_key = ?
       UNION
       SELECT c.serial FROM certificates c JOIN lineage l ON c.renewed_from = l.serial
     )
     UPDATE certificates SET revoked_at = ?, revocation_reason = ?
     WHERE revoked_at IS NULL AND not_after >= ? AND serial IN (SELECT serial FROM lineage)`,
    [principal, kid, now, reason, now],
  );
  return changes;
}

export async function getCertificate(ctx: SqlContext, serial: string): Promise<CertificateRecord | null> {
  const row = await ctx.db.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [serial]);
  return row ? toCertificate(row) : null;
}

/**
 * Revokes the certificate and every certificate renewed from it, transitively, with its reason
 * and time. Idempotent: a second call changes nothing, and the first reason and time stand.
 */
export function revokeCertificate(ctx: SqlContext, serial: string, reason: string, by: Actor): Promise<RevokedCertificate> {
  return ctx.db.transaction(async (tx) => {
    const before = await tx.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [serial]);
    if (!before) throw new NotFoundError(`no certificate with serial ${serial} was issued by this CA`);
    // Renewals hold this row while they record (requireLiveParent): none slips in between.
    await serviceRow(tx, before.principal, ctx.forUpdate);
    // Conditional, so of concurrent revocations exactly one changes the row and is audited;
    // the first reason and time stand.
    const { changes } = await tx.run('UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL', [
      ctx.now(),
      reason,
      serial,
    ]);
    const row = await tx.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [serial]);
    const revoked = toCertificate(row!);
    // The descendants carry the revocation that stands, whichever call made it.
    const descendants = await tx.run(
      `WITH RECURSIVE lineage (serial) AS (
         SELECT serial FROM certificates WHERE renewed_from = ?
         UNION
         SELECT c.serial FROM certificates c JOIN lineage l ON c.renewed_from = l.serial
       )
       UPDATE certificates SET revoked_at = ?, revocation_reason = ?
       WHERE revoked_at IS NULL AND serial IN (SELECT serial FROM lineage)`,
      [serial, revoked.revokedAt, revoked.revocationReason],
    );
    if (changes === 1 || descendants.changes > 0) {
      const { principal, revokedAt, revocationReason } = revoked;
      await audit(ctx, tx, by, {
        type: 'certificate.revoke',
        target: principal,
        before: { serial, principal, revokedAt: before.revoked_at, revocationReason: before.revocation_reason },
        after: { serial, principal, revokedAt, revocationReason, descendantsRevoked: descendants.changes },
      });
    }
    return { certificate: revoked, descendantsRevoked: descendants.changes };
  });
}

// The CRL's query: the partial index holds revoked certificates only, ordered by expiry.
// notAfter is inclusive (RFC 5280 4.1.2.5): a certificate is still valid, and still listed, at it.
export async function listRevokedCertificates(ctx: SqlContext, now: number): Promise<CertificateRecord[]> {
  const rows = await ctx.db.all<CertificateRow>('SELECT * FROM certificates WHERE revoked_at IS NOT NULL AND not_after >= ? ORDER BY revoked_at, serial', [
    now,
  ]);
  return rows.map(toCertificate);
}

// The thumbprint is a hash of the whole certificate, serial included: one row at most, but for
// rows a test wrote by hand; then the lowest serial, so the answer is the same every time.
export async function getCertificateByThumbprint(ctx: SqlContext, thumbprint: string): Promise<CertificateRecord | null> {
  const row = await ctx.db.get<CertificateRow>('SELECT * FROM certificates WHERE thumbprint = ? ORDER BY serial LIMIT 1', [thumbprint]);
  return row ? toCertificate(row) : null;
}

/**
 * Revokes every certificate of `principal` that is unrevoked and unexpired at `now`; returns how
 * many. Inside the caller's transaction, which holds the service row (lockService).
 */
export async function revokeLiveCertificatesOf(tx: SqlExecutor, principal: string, reason: string, now: number): Promise<number> {
  const { changes } = await tx.run(
    `UPDATE certificates SET revoked_at = ?, revocation_reason = ?
     WHERE principal = ? AND revoked_at IS NULL AND not_after >= ?`,
    [now, reason, principal, now],
  );
  return changes;
}

/** Incident response: every live certificate of the service at once. Audit `certificate.revoke-all`. */
export function revokeServiceCertificates(ctx: SqlContext, principal: string, reason: string, by: Actor): Promise<number> {
  return ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, principal);
    const revokedAt = ctx.now();
    const revoked = await revokeLiveCertificatesOf(tx, principal, reason, revokedAt);
    await audit(ctx, tx, by, {
      type: 'certificate.revoke-all',
      target: principal,
      before: null,
      after: { principal, revoked, revokedAt, revocationReason: reason },
    });
    return revoked;
  });
}

const STATUS_CONDITIONS: Record<CertificateStatus, string> = {
  // notAfter is inclusive (RFC 5280 4.1.2.5); a revoked certificate counts as revoked, expired or not.
  active: 'revoked_at IS NULL AND not_after >= ?',
  revoked: 'revoked_at IS NOT NULL',
  expired: 'revoked_at IS NULL AND not_after < ?',
};

/** A page of the service's certificates, newest first (issuedAt, then serial, descending). */
export async function listCertificates(ctx: SqlContext, principal: string, query: CertificateListQuery): Promise<CertificateRecord[]> {
  const conditions = ['principal = ?'];
  const params: SqlValue[] = [principal];
  if (query.after !== undefined) {
    conditions.push('issued_at <= ? AND (issued_at < ? OR serial < ?)');
    params.push(query.after.issuedAt, query.after.issuedAt, query.after.serial);
  }
  if (query.status !== undefined) {
    conditions.push(STATUS_CONDITIONS[query.status]);
    if (query.status !== 'revoked') params.push(query.now);
  }
  const rows = await ctx.db.all<CertificateRow>(`SELECT * FROM certificates WHERE ${conditions.join(' AND ')} ORDER BY issued_at DESC, serial DESC LIMIT ?`, [
    ...params,
    query.limit,
  ]);
  return rows.map(toCertificate);
}

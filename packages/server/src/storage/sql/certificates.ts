// Certificates the CA issued, by serial: what lets renewal and mTLS refuse a revoked serial,
// an admin revoke one, and the CRL list the revoked ones until they expire.
//
// Rows are kept after notAfter: nothing prunes them yet. An expired certificate is worthless
// to an attacker and costs a row, and every lookup here goes through the serial or an index
// whose scan stops at the unexpired rows, so the kept rows slow nothing down.

import { ConflictError, NotFoundError } from '../errors.ts';
import type { Actor, CertificateRecord } from '../records.ts';
import { audit } from './context.ts';
import type { SqlContext } from './context.ts';
import { toCertificate } from './rows.ts';
import type { CertificateRow } from './rows.ts';

// As the certificate carries it, so a lookup by the serial read from a certificate matches.
const SERIAL = /^[0-9a-f]+$/;

export async function recordCertificate(
  ctx: SqlContext,
  certificate: Omit<CertificateRecord, 'revokedAt' | 'revocationReason'>,
  by: Actor,
): Promise<void> {
  await recordCertificates(ctx, [{ certificate, by }]);
}

/** All in one transaction: one commit (one fsync) for a group of certificates the CA issued together. */
export async function recordCertificates(
  ctx: SqlContext,
  entries: readonly { certificate: Omit<CertificateRecord, 'revokedAt' | 'revocationReason'>; by: Actor }[],
): Promise<void> {
  for (const { certificate } of entries) {
    // The serial comes from the CA, not from a request: a bad one is a bug to surface.
    if (!SERIAL.test(certificate.serial)) throw new RangeError(`a certificate serial is lower-case hex, not ${JSON.stringify(certificate.serial)}`);
  }
  if (entries.length === 0) return;
  await ctx.db.transaction(async (tx) => {
    for (const { certificate, by } of entries) {
      const { serial, principal } = certificate;
      const { changes } = await tx.run(
        `INSERT INTO certificates (serial, principal, thumbprint, ca_id, not_before, not_after, issued_at, revoked_at, revocation_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (serial) DO NOTHING`,
        [serial, principal, certificate.thumbprint, certificate.caId, certificate.notBefore, certificate.notAfter, certificate.issuedAt],
      );
      if (changes === 0) throw new ConflictError(`a certificate with serial ${serial} is already recorded`);
      await audit(ctx, tx, by, {
        type: 'certificate.issue',
        target: principal,
        before: null,
        after: { serial, principal, notAfter: certificate.notAfter },
      });
    }
  });
}

export async function getCertificate(ctx: SqlContext, serial: string): Promise<CertificateRecord | null> {
  const row = await ctx.db.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [serial]);
  return row ? toCertificate(row) : null;
}

export function revokeCertificate(ctx: SqlContext, serial: string, reason: string, by: Actor): Promise<CertificateRecord> {
  return ctx.db.transaction(async (tx) => {
    // Conditional, so of concurrent revocations exactly one changes the row and is audited;
    // the first reason and time stand.
    const revokedAt = ctx.now();
    const { changes } = await tx.run(
      'UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL',
      [revokedAt, reason, serial],
    );
    const row = await tx.get<CertificateRow>('SELECT * FROM certificates WHERE serial = ?', [serial]);
    if (!row) throw new NotFoundError(`no certificate with serial ${serial} was issued by this CA`);
    const revoked = toCertificate(row);
    if (changes === 1) {
      await audit(ctx, tx, by, {
        type: 'certificate.revoke',
        target: revoked.principal,
        before: { serial, principal: revoked.principal, revokedAt: null, revocationReason: null },
        after: { serial, principal: revoked.principal, revokedAt, revocationReason: reason },
      });
    }
    return revoked;
  });
}

// The CRL's query: the partial index holds revoked certificates only, ordered by expiry.
// notAfter is inclusive (RFC 5280 4.1.2.5): a certificate is still valid, and still listed, at it.
export async function listRevokedCertificates(ctx: SqlContext, now: number): Promise<CertificateRecord[]> {
  const rows = await ctx.db.all<CertificateRow>(
    'SELECT * FROM certificates WHERE revoked_at IS NOT NULL AND not_after >= ? ORDER BY revoked_at, serial',
    [now],
  );
  return rows.map(toCertificate);
}

// The thumbprint is a hash of the whole certificate, serial included: one row at most, but for
// rows a test wrote by hand; then the lowest serial, so the answer is the same every time.
export async function getCertificateByThumbprint(ctx: SqlContext, thumbprint: string): Promise<CertificateRecord | null> {
  const row = await ctx.db.get<CertificateRow>(
    'SELECT * FROM certificates WHERE thumbprint = ? ORDER BY serial LIMIT 1',
    [thumbprint],
  );
  return row ? toCertificate(row) : null;
}

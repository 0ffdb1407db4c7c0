// A service (SPIFFE X.509-SVID) certificate from a CSR: SPEC §5's profile, and a record of it in
// the store before anyone sees it, so every certificate in circulation can be looked up, renewed
// and revoked. Who may get a certificate for which principal is decided before this (the proofs);
// this decides only what the certificate says.

import type { Store } from '../storage/store.ts';
import { parseCsr } from './csr.ts';
import type { CertificateRequest } from './csr.ts';
import { InvalidCertificateRequestError } from './errors.ts';
import { issueLeafCertificate } from './issue-certificate.ts';
import type { Issuer } from './issue-certificate.ts';
import { checkRequestedNames, serviceIdentity } from './service-identity.ts';
import type { IdentityNaming } from './service-identity.ts';
import { thumbprintOf, toPem, x509 } from './x509.ts';

export interface ServiceCertificateRequest {
  /** The CSR as PEM, bare base64 DER (EST) or DER bytes. Or give `csr`, already parsed with parseCsr. */
  csrPem?: string | Uint8Array;
  csr?: CertificateRequest;
  /** The principal the caller proved, `<domain>.<service>`. */
  principal: string;
  /** Defaults to ca.certLifetime; capped at ca.maxCertLifetime and at the issuing CA's notAfter. */
  lifetimeSeconds?: number;
  /** Milliseconds since the epoch. */
  now: number;
  /** Who asked, for the audit trail: the principal itself unless an administrator issued it. */
  actor?: string;
}

export interface IssuedServiceCertificate {
  certificatePem: string;
  /** The issuing CA certificate(s) then the root, PEM. */
  chainPem: string;
  principal: string;
  /** Hex, lower-case, as the certificate carries it. */
  serial: string;
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** Milliseconds since the epoch (backdated a minute from issuance). */
  notBefore: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The CA generation that signed it. */
  caId: string;
}

export interface ServiceCertificateSettings extends IdentityNaming {
  /** Seconds. */
  certLifetime: number;
  /** Seconds. */
  maxCertLifetime: number;
}

/** The CA generation that signs: its record id, key and chain. */
export interface SigningGeneration {
  id: string;
  issuer: Issuer;
  chainPem: string;
}

export async function issueServiceCertificate(
  generation: SigningGeneration,
  settings: ServiceCertificateSettings,
  store: Pick<Store, 'recordCertificate'>,
  request: ServiceCertificateRequest,
): Promise<IssuedServiceCertificate> {
  const identity = serviceIdentity(request.principal, settings);
  const csr = request.csr ?? parseCsr(requireCsr(request.csrPem));
  checkRequestedNames(csr.requestedNames, identity);

  const lifetimeSeconds = Math.min(request.lifetimeSeconds ?? settings.certLifetime, settings.maxCertLifetime);
  const certificate = await issueLeafCertificate(generation.issuer, csr.subjectPublicKey, {
    commonName: identity.commonName,
    uris: [identity.spiffeId],
    dnsNames: [identity.dnsName],
    extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    lifetimeSeconds,
    now: request.now,
  });

  const issued: IssuedServiceCertificate = {
    certificatePem: toPem(certificate),
    chainPem: generation.chainPem,
    principal: identity.principal,
    serial: certificate.serialNumber.toLowerCase(),
    thumbprint: thumbprintOf(certificate),
    notBefore: certificate.notBefore.getTime(),
    expiresAt: certificate.notAfter.getTime(),
    caId: generation.id,
  };
  // Recorded before it is handed out: a certificate the store does not know could be neither
  // renewed nor revoked, so a failed write means no certificate.
  await store.recordCertificate(
    {
      serial: issued.serial,
      principal: issued.principal,
      thumbprint: issued.thumbprint,
      caId: issued.caId,
      notBefore: issued.notBefore,
      notAfter: issued.expiresAt,
      issuedAt: request.now,
    },
    { actor: request.actor ?? identity.principal },
  );
  return issued;
}

function requireCsr(csrPem: string | Uint8Array | undefined): string | Uint8Array {
  if (csrPem === undefined) throw new InvalidCertificateRequestError('a certificate request needs a CSR (PKCS#10, PEM)');
  return csrPem;
}

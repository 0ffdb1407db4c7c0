// The machinery every end-entity certificate goes through: TLS server certificates now, service
// (SPIFFE) certificates from CSRs later. A caller describes the names and purposes; the
// invariants (cA=false, keyUsage digitalSignature, SKI/AKI, random serial, backdating, never
// outliving the issuer) are enforced here once.

import { InvalidCaRecordError, InvalidCertificateRequestError } from './errors.ts';
import { MAX_COMMON_NAME } from './names.ts';
import { randomSerialNumber, webcrypto, wholeSeconds, x509 } from './x509.ts';
import type { CryptoKey, SigningKeyMaterial } from './x509.ts';

/** The issuing CA: its certificate and the private key that matches it. */
export interface Issuer {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  /** Defaults to ECDSA with SHA-256, right for the generated P-256 CA. */
  signingAlgorithm?: SigningKeyMaterial['signingAlgorithm'];
}

/** What a leaf certificate says. Names must already be canonical (see names.ts). */
export interface LeafProfile {
  commonName: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  /** Extended key usage OIDs, e.g. x509.ExtendedKeyUsage.serverAuth. */
  extendedKeyUsages: readonly string[];
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
}

/**
 * notBefore is set this far in the past so a peer whose clock runs a little behind ours does
 * not reject a certificate issued a moment ago (the same allowance step-ca makes).
 */
export const BACKDATE_SECONDS = 60;

export async function issueLeafCertificate(
  issuer: Issuer,
  subjectPublicKey: CryptoKey | x509.PublicKey,
  profile: LeafProfile,
): Promise<x509.X509Certificate> {
  const { commonName, lifetimeSeconds, now } = profile;
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new InvalidCertificateRequestError(`certificate lifetime must be a positive whole number of seconds, got ${lifetimeSeconds}`);
  }
  if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME) {
    throw new InvalidCertificateRequestError(`common name must be 1 to ${MAX_COMMON_NAME} characters: ${JSON.stringify(commonName)}`);
  }
  // URIs first: a service certificate's SPIFFE ID is its identity, the DNS name a convenience.
  const names: x509.JsonGeneralNames = [
    ...(profile.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(profile.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(profile.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length === 0) {
    // Modern verifiers match names against SANs only and ignore the CN.
    throw new InvalidCertificateRequestError('a certificate needs at least one DNS name, IP address or URI');
  }

  const issuerNotAfter = issuer.certificate.notAfter.getTime();
  if (now >= issuerNotAfter) {
    throw new InvalidCaRecordError(`the issuing CA certificate expired at ${issuer.certificate.notAfter.toISOString()}`);
  }
  const notBefore = wholeSeconds(now - BACKDATE_SECONDS * 1000);
  // A certificate that outlives its issuer stops validating when the issuer expires anyway;
  // capping it makes its notAfter tell the truth to whoever schedules its renewal.
  const notAfter = wholeSeconds(Math.min(now + lifetimeSeconds * 1000, issuerNotAfter));

  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [commonName] }],
      issuer: issuer.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey: subjectPublicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: issuer.signingAlgorithm ?? { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([...profile.extendedKeyUsages], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(subjectPublicKey, false, webcrypto),
        await authorityKeyIdentifier(issuer.certificate),
      ],
    },
    webcrypto,
  );
}

/**
 * RFC 5280 §4.2.1.1: the AKI must equal the issuer's SKI, so it is copied rather than
 * recomputed (an imported CA may have derived its SKI another way). Only a CA certificate
 * without an SKI falls back to hashing its key.
 */
async function authorityKeyIdentifier(issuerCertificate: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuerCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(issuerCertificate.publicKey, false, webcrypto);
}

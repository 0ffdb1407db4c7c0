// Certification path validation for client certificates (RFC 5280 §6, the parts a TLS client
// certificate needs): each certificate is signed by the next, every issuer is a CA allowed to
// sign certificates (basicConstraints cA, keyUsage keyCertSign, pathLenConstraint), every
// certificate on the path is within its validity period, and the path ends at a configured
// trust anchor.
//
// The TLS listener does not do this itself (it runs with `rejectUnauthorized: false`) because
// the anchors differ by use (the token endpoint trusts `mtls.externalCas`, certificate login
// `certLogin.trustedCas`), change with CA rotation, and a certificate forwarded by a proxy
// never passed through our handshake at all. One validator serves every path.
//
// Every configured CA certificate is an anchor as it stands (OpenSSL's partial-chain mode):
// an operator who configures an intermediate trusts what it signs, not what its root signs.
// Tessera's own anchors are its generations' issuing certificates, never their roots: the root
// of an imported CA is the operator's, and signs other intermediates too.
//
// RFC 5280 §4.2: a certificate with a critical extension the validator does not process is
// refused. Processed here: basicConstraints, keyUsage, extKeyUsage, subjectAltName (and the key
// identifiers). certificatePolicies and inhibitAnyPolicy are read as processed because Tessera
// asks for no particular policy: without policyConstraints they cannot make a path invalid
// (RFC 5280 §6.1.5 succeeds while explicit_policy > 0). nameConstraints and policyConstraints would
// narrow what a CA may sign; Tessera does not enforce them, so a CA carrying either is refused
// outright (presented, or configured at start) rather than trusted more widely than its issuer
// meant.

import type { X509Certificate } from 'node:crypto';
import { x509 } from '../ca/x509.ts';
import { ClientCertificateError } from './errors.ts';

/** Longer chains than this are not searched: nothing Tessera trusts needs more. */
export const MAX_INTERMEDIATES = 4;

export type CertificateSource = 'tessera' | 'external';

export interface TrustAnchor {
  certificate: X509Certificate;
  source: CertificateSource;
  /** The CA generation (Tessera's anchors): a certificate Tessera issued is recorded under it. */
  caId?: string;
  /** The configured PEM file (external anchors): what certificate mappings name. */
  file?: string;
}

export interface ValidPath {
  anchor: TrustAnchor;
  /** Presented CA certificates between the leaf and the anchor, leaf side first. */
  intermediates: X509Certificate[];
}

export function validatePath(leaf: X509Certificate, presented: readonly X509Certificate[], anchors: readonly TrustAnchor[], now: number): ValidPath {
  checkValidity(leaf, now, 'the client certificate');
  if (leaf.ca) throw new ClientCertificateError('wrong-usage', 'a CA certificate cannot authenticate a client; present an end-entity certificate');

  const found = findPath(leaf, presented, anchors, now, true, []);
  if (found) {
    checkExtensions(leaf, 'the client certificate');
    for (const certificate of found.intermediates) {
      checkExtensions(certificate, `the issuing CA "${oneLine(certificate.subject)}"`);
    }
    return found;
  }
  // Said precisely when the only path runs through an expired CA: that needs a different fix.
  const stale = findPath(leaf, presented, anchors, now, false, []);
  if (stale) {
    for (const certificate of [...stale.intermediates, stale.anchor.certificate])
      checkValidity(certificate, now, `the issuing CA "${oneLine(certificate.subject)}"`);
  }
  throw new ClientCertificateError(
    'untrusted',
    `the client certificate (issuer "${oneLine(leaf.issuer)}") does not chain to a CA Tessera trusts; use a certificate from Tessera's CA or a configured external CA, and send any intermediate certificates with it`,
  );
}

/** For a path validated earlier (signatures do not change): is every certificate on it still within its validity period? */
export function recheckValidity(leaf: X509Certificate, path: ValidPath, now: number): void {
  checkValidity(leaf, now, 'the client certificate');
  for (const certificate of [...path.intermediates, path.anchor.certificate])
    checkValidity(certificate, now, `the issuing CA "${oneLine(certificate.subject)}"`);
}

export function checkValidity(certificate: X509Certificate, now: number, what: string): void {
  if (certificate.validToDate.getTime() < now) {
    throw new ClientCertificateError('expired', `${what} expired at ${certificate.validToDate.toISOString()}; renew it`);
  }
  if (certificate.validFromDate.getTime() > now) {
    throw new ClientCertificateError('not-yet-valid', `${what} is not valid before ${certificate.validFromDate.toISOString()}; check the clocks`);
  }
}

const EXTENSION = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
} as const;

const PROCESSED = new Set<string>([
  EXTENSION.subjectKeyIdentifier,
  EXTENSION.keyUsage,
  EXTENSION.subjectAltName,
  EXTENSION.basicConstraints,
  EXTENSION.certificatePolicies,
  EXTENSION.authorityKeyIdentifier,
  EXTENSION.extKeyUsage,
  EXTENSION.inhibitAnyPolicy,
]);

const UNENFORCED = new Map<string, string>([
  [EXTENSION.nameConstraints, 'name constraints'],
  [EXTENSION.policyConstraints, 'policy constraints'],
]);

/**
 * Why `certificate` cannot be on a trusted path, or null: an unknown critical extension, or (for
 * a CA) constraints Tessera does not enforce. `what` names it for the message ("the client
 * certificate", `the issuing CA "…"`).
 */
export function extensionProblem(certificate: X509Certificate, what: string): string | null {
  for (const extension of new x509.X509Certificate(certificate.raw).extensions) {
    const unenforced = UNENFORCED.get(extension.type);
    if (unenforced !== undefined && certificate.ca) {
      return (
        `${what} carries ${unenforced}, which Tessera does not enforce; use a CA without them, ` +
        'or configure a CA below it (without them) as the trust anchor'
      );
    }
    if (extension.critical && unenforced === undefined && !PROCESSED.has(extension.type)) {
      return `${what} carries the critical extension ${extension.type}, which Tessera does not understand ` + '(RFC 5280 §4.2); use a certificate without it';
    }
  }
  return null;
}

function checkExtensions(certificate: X509Certificate, what: string): void {
  const problem = extensionProblem(certificate, what);
  if (problem !== null) throw new ClientCertificateError('untrusted', problem);
}

function findPath(
  subject: X509Certificate,
  presented: readonly X509Certificate[],
  anchors: readonly TrustAnchor[],
  now: number,
  requireValid: boolean,
  below: X509Certificate[],
): ValidPath | null {
  const usable = (issuer: X509Certificate): boolean =>
    (!requireValid || withinValidity(issuer, now)) && issues(issuer, subject) && pathLengthAllows(issuer, below.length);
  for (const anchor of anchors) {
    if (usable(anchor.certificate)) return { anchor, intermediates: below };
  }
  if (below.length >= MAX_INTERMEDIATES) return null;
  for (const candidate of presented) {
    if (below.includes(candidate) || !usable(candidate)) continue;
    const found = findPath(candidate, presented, anchors, now, requireValid, [...below, candidate]);
    if (found) return found;
  }
  return null;
}

/** checkIssued covers names, AKI/SKI and keyUsage keyCertSign; the signature is checked last, as the costly part. */
function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  if (!issuer.ca || !subject.checkIssued(issuer)) return false;
  try {
    return subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** RFC 5280 §4.2.1.9: pathLenConstraint counts the CA certificates that may follow this one. */
function pathLengthAllows(issuer: X509Certificate, intermediatesBelow: number): boolean {
  if (intermediatesBelow === 0) return true;
  const constraints = new x509.X509Certificate(issuer.raw).getExtension(x509.BasicConstraintsExtension);
  return constraints?.pathLength === undefined || intermediatesBelow <= constraints.pathLength;
}

function withinValidity(certificate: X509Certificate, now: number): boolean {
  return certificate.validFromDate.getTime() <= now && now <= certificate.validToDate.getTime();
}

/** Node prints distinguished names one attribute per line. */
export function oneLine(name: string): string {
  return name.split('\n').join(', ').slice(0, 200);
}

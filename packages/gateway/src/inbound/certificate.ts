// Callers identified by their TLS client certificate. The listener asks for a certificate and
// lets Node verify it against `tls.clientCa` and `tls.externalCas` (requestCert, with
// rejectUnauthorized off so a caller with a token but no certificate still gets in); here the
// verified certificate names a principal:
//   - one that chains to Tessera's CA (`tls.clientCa`) by its one SPIFFE URI SAN,
//     `spiffe://<trustDomain>/<domain>/<service>` → `<domain>.<service>` (docs/certificates.md);
//   - one from an external CA (`tls.externalCas`) only through `certificateMappings`, and only a
//     rule that names that very CA: a partner CA cannot mint a SPIFFE name, nor another
//     partner's subject.
// A certificate that is presented but not trusted, expired, or lacks the clientAuth extended key
// usage is refused, not ignored.

import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { fingerprintOf, type CertificateMapping, type GatewayConfig } from '../config/config.ts';
import { GatewayError } from '../http/errors.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PRINCIPAL_PART = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

export interface CertificateTrust {
  tessera: readonly X509Certificate[];
  external: readonly X509Certificate[];
  trustDomain: string;
  mappings: readonly CertificateMapping[];
}

export function certificateTrust(config: GatewayConfig): CertificateTrust | undefined {
  if (!config.tls) return undefined;
  return { tessera: config.tls.clientCa, external: config.tls.externalCas, trustDomain: config.tls.trustDomain, mappings: config.certificateMappings };
}

/** The principal of the caller's certificate; undefined when none was presented. Throws GatewayError(401) for a certificate that names no one. */
export function certificatePrincipal(socket: TLSSocket, trust: CertificateTrust | undefined): { principal: string; certificate: X509Certificate } | undefined {
  if (trust === undefined || typeof socket.getPeerCertificate !== 'function') return undefined;
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.raw) return undefined;
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? 'unknown reason');
    throw GatewayError.invalidToken(`the client certificate is not trusted (${why}): it must chain to a CA the gateway trusts`);
  }
  const leaf = new X509Certificate(peer.raw);
  const eku = leaf.keyUsage;
  if (eku !== undefined && !eku.includes(CLIENT_AUTH)) {
    throw GatewayError.invalidToken('the client certificate may not be used for client authentication (no clientAuth extended key usage)');
  }
  const chain = [leaf, ...intermediates(peer)];
  if (anchoredIn(chain, trust.tessera)) {
    const principal = spiffePrincipal(leaf, trust.trustDomain);
    if (principal === undefined) {
      throw GatewayError.invalidToken(
        `the client certificate from Tessera's CA names no principal: it needs one URI SAN spiffe://${trust.trustDomain}/<domain>/<service>`,
      );
    }
    return { principal, certificate: leaf };
  }
  const anchor = anchoredIn(chain, trust.external);
  if (anchor) {
    const principal = mapped(leaf, fingerprintOf(anchor), trust.mappings);
    if (principal === undefined) {
      throw GatewayError.invalidToken('the client certificate is from an external CA, and no certificateMappings rule for that CA matches it');
    }
    return { principal, certificate: leaf };
  }
  throw GatewayError.invalidToken('the client certificate chains to no CA the gateway maps certificates of');
}

function intermediates(peer: PeerCertificate & { issuerCertificate?: PeerCertificate }): X509Certificate[] {
  const out: X509Certificate[] = [];
  let current = peer as { issuerCertificate?: PeerCertificate; raw: Buffer };
  for (let i = 0; i < 8 && current.issuerCertificate && current.issuerCertificate !== current; i++) {
    current = current.issuerCertificate as typeof current;
    out.push(new X509Certificate(current.raw));
  }
  return out;
}

/** The anchor of `anchors` that signed a certificate of the (already verified) chain, or undefined. */
function anchoredIn(chain: readonly X509Certificate[], anchors: readonly X509Certificate[]): X509Certificate | undefined {
  for (const cert of chain) {
    for (const anchor of anchors) {
      if (cert.fingerprint256 === anchor.fingerprint256) return anchor;
      if (cert.checkIssued(anchor) && cert.verify(anchor.publicKey)) return anchor;
    }
  }
  return undefined;
}

/** `spiffe://<td>/<domain>/<service>` → `<domain>.<service>`, from exactly one URI SAN. */
export function spiffePrincipal(cert: X509Certificate, trustDomain: string): string | undefined {
  const uris = sans(cert)
    .filter((san) => san.startsWith('URI:'))
    .map((san) => san.slice(4));
  if (uris.length !== 1) return undefined;
  const prefix = `spiffe://${trustDomain}/`;
  if (!uris[0]!.startsWith(prefix)) return undefined;
  const parts = uris[0]!.slice(prefix.length).split('/');
  if (parts.length !== 2 || !parts.every((part) => PRINCIPAL_PART.test(part))) return undefined;
  return `${parts[0]}.${parts[1]}`;
}

function mapped(cert: X509Certificate, caFingerprint: string, mappings: readonly CertificateMapping[]): string | undefined {
  const subject = cert.subject.split('\n');
  const names = sans(cert);
  const fingerprint = fingerprintOf(cert);
  for (const rule of mappings) {
    if (!rule.cas.has(caFingerprint)) continue;
    if (rule.subject && !(same(rule.subject, subject) || same([...rule.subject].reverse(), subject))) continue;
    if (rule.san !== undefined && !names.some((san) => sanMatches(san, rule.san!))) continue;
    if (rule.fingerprint !== undefined && rule.fingerprint !== fingerprint) continue;
    return rule.principal;
  }
  return undefined;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s !== '');
}

/** URI and e-mail SANs match exactly, DNS names in any case. */
function sanMatches(san: string, wanted: string): boolean {
  const value = sanValue(san);
  return value === wanted || (san.startsWith('DNS:') && value.toLowerCase() === wanted.toLowerCase());
}

function sanValue(san: string): string {
  return san.slice(san.indexOf(':') + 1);
}

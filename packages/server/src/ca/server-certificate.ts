// Tessera's own TLS server certificate: a fresh P-256 key and a serverAuth certificate for the
// listener's names, from the generation that signs now.

import { InvalidCertificateRequestError } from './errors.ts';
import { issueLeafCertificate } from './issue-certificate.ts';
import type { Issuer } from './issue-certificate.ts';
import { canonicalDnsName, canonicalIpAddress } from './names.ts';
import { MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS } from './settings.ts';
import { exportPkcs8Pem, generateP256KeyPair, toPem, x509 } from './x509.ts';

export interface ServerCertificateRequest {
  /** Host names; the first one becomes the subject CN. */
  dnsNames: string[];
  /** IPv4 and IPv6 addresses, e.g. `127.0.0.1`, `::1`. */
  ipAddresses: string[];
  /** Capped at MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS. */
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM of the key made for this certificate alone. */
  keyPem: string;
  /** The issuing CA then the root. A TLS server presents `certPem + chainPem`. */
  chainPem: string;
  /** Milliseconds since the epoch. */
  notAfter: number;
}

export async function issueServerCertificate(generation: { issuer: Issuer; chainPem: string }, request: ServerCertificateRequest): Promise<IssuedCertificate> {
  const dnsNames = unique(request.dnsNames.map(canonicalDnsName));
  const ipAddresses = unique(request.ipAddresses.map(canonicalIpAddress));
  const commonName = dnsNames[0] ?? ipAddresses[0];
  if (commonName === undefined) {
    throw new InvalidCertificateRequestError('a server certificate needs at least one DNS name or IP address');
  }
  const keys = await generateP256KeyPair(true);
  const certificate = await issueLeafCertificate(generation.issuer, keys.publicKey, {
    commonName,
    dnsNames,
    ipAddresses,
    extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth],
    lifetimeSeconds: Math.min(request.lifetimeSeconds, MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS),
    now: request.now,
  });
  return {
    certPem: toPem(certificate),
    keyPem: await exportPkcs8Pem(keys.privateKey),
    chainPem: generation.chainPem,
    notAfter: certificate.notAfter.getTime(),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

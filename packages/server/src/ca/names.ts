// Checks and canonical forms for the names a certificate carries. Strict X.509 parsers (Go's
// crypto/x509 above all) reject certificates with malformed SANs, so a bad name is refused at
// the request instead of producing a certificate some clients cannot load.

import { isIP } from 'node:net';
import { InvalidCertificateRequestError } from './errors.ts';

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** Upper bound of X.520 commonName (ub-common-name). */
export const MAX_COMMON_NAME = 64;

/** A host name as a dNSName SAN: lower-case LDH labels, no trailing dot, no wildcard. */
export function canonicalDnsName(name: string): string {
  const lower = name.toLowerCase();
  const labels = lower.split('.');
  if (lower.length === 0 || lower.length > 253 || !labels.every((label) => DNS_LABEL.test(label))) {
    throw new InvalidCertificateRequestError(`not a valid DNS name for a certificate: ${JSON.stringify(name)}`);
  }
  return lower;
}

/**
 * An IPv4 or IPv6 address for an iPAddress SAN. IPv6 is rewritten through the WHATWG URL
 * parser into its compressed all-hex form, because the x509 library's own parser reads only
 * hex groups and would silently mis-encode forms such as `::ffff:192.0.2.1`. Zone ids (`%eth0`)
 * and CIDR blocks are not addresses and are refused.
 */
export function canonicalIpAddress(address: string): string {
  const family = isIP(address);
  if (family === 4) return address;
  if (family === 6 && !address.includes('%')) {
    return new URL(`http://[${address}]`).hostname.slice(1, -1);
  }
  throw new InvalidCertificateRequestError(`not a valid IP address for a certificate: ${JSON.stringify(address)}`);
}

/** A SPIFFE trust domain name (the host part of `spiffe://<trust-domain>/...`). */
export function checkTrustDomain(trustDomain: string): string {
  if (trustDomain.length === 0 || trustDomain.length > 255 || !TRUST_DOMAIN.test(trustDomain)) {
    throw new InvalidCertificateRequestError(`not a valid SPIFFE trust domain (lower-case letters, digits, '.', '-', '_'): ${JSON.stringify(trustDomain)}`);
  }
  return trustDomain;
}

export function trustDomainId(trustDomain: string): string {
  return `spiffe://${checkTrustDomain(trustDomain)}`;
}

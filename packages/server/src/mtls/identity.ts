// What a client certificate says about who holds it: the RFC 8705 thumbprint, the serial, the
// names (subject DN and SANs) and the extended key usages (the SPIFFE ID of Tessera's own
// certificates is read by ca/service-identity.ts, beside the code that writes it). Extensions
// are read with @peculiar/x509 (Node exposes SANs only as display text, whose quoting is not
// meant to be parsed back).

import { createHash, type X509Certificate } from 'node:crypto';
import { x509 } from '../ca/x509.ts';
import { ClientCertificateError } from './errors.ts';

export const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/** One relative distinguished name: attribute short name (upper-case) → values. */
export type Rdn = Record<string, string[]>;

export interface CertificateNames {
  /** In the order the certificate encodes them (RFC 4514 strings list them the other way round). */
  subject: Rdn[];
  dns: string[];
  uris: string[];
  emails: string[];
}

/** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the DER certificate. */
export function certificateThumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}

export interface CertificateFacts {
  /** Lower-case hex of the serial's encoded bytes, as the CA records it (ca/service-certificate.ts). */
  serial: string;
  names: CertificateNames;
  /** null when the certificate has no extendedKeyUsage extension (any use is then allowed). */
  extendedKeyUsages: readonly string[] | null;
}

export function certificateFacts(certificate: X509Certificate): CertificateFacts {
  const parsed = new x509.X509Certificate(certificate.raw);
  const sans = parsed.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const of = (type: string): string[] => sans.filter((name) => name.type === type).map((name) => name.value);
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  return {
    serial: parsed.serialNumber.toLowerCase(),
    names: { subject: normalizeRdns(parsed.subjectName.toJSON()), dns: of('dns'), uris: of('url'), emails: of('email') },
    extendedKeyUsages: eku ? eku.usages.map(String) : null,
  };
}

export function allowsClientAuth(usages: readonly string[] | null): boolean {
  return usages === null || usages.includes(CLIENT_AUTH_EKU) || usages.includes(ANY_EKU);
}

/**
 * `if-present`: an extendedKeyUsage extension, when there is one, must allow clientAuth (what
 * TLS stacks check). `required`: the extension must be there and allow it (a mapped certificate
 * with `certLogin.requireClientAuthEku`).
 */
export type ClientAuthEkuRule = 'if-present' | 'required';

export function checkExtendedKeyUsage(usages: readonly string[] | null, rule: ClientAuthEkuRule): void {
  if (rule === 'required' && usages === null) {
    throw new ClientCertificateError(
      'wrong-usage',
      `the client certificate has no extended key usage extension; it must allow clientAuth (${CLIENT_AUTH_EKU})`,
    );
  }
  if (!allowsClientAuth(usages)) {
    throw new ClientCertificateError(
      'wrong-usage',
      `the client certificate's extended key usage does not include clientAuth (${CLIENT_AUTH_EKU}); use a certificate issued for TLS clients`,
    );
  }
}

/** Upper-case attribute names, values in a fixed order, so two spellings of one DN compare equal. */
export function normalizeRdns(rdns: readonly Record<string, readonly string[]>[]): Rdn[] {
  return rdns.map((rdn) => {
    const entries = Object.entries(rdn).map(([type, values]): [string, string[]] => [type.toUpperCase(), [...values].sort()]);
    return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** The subject as RFC 4514 writes it (most specific first), for messages. */
export function subjectText(names: CertificateNames): string {
  return [...names.subject]
    .reverse()
    .map((rdn) =>
      Object.entries(rdn)
        .flatMap(([type, values]) => values.map((value) => `${type}=${value.replace(/([,+"\\<>;])/g, '\\$1')}`))
        .join('+'),
    )
    .join(',');
}

// Certificates from external CAs name no Tessera principal, so operators map them
// (`certLogin.mappings`, the API Mediation Layer pattern of seed 004): by subject DN, by a SAN
// value, or by the certificate's SHA-256 fingerprint. A rule matches when every field it gives
// matches; the first matching rule wins. Rules are checked once, at start, so a typo stops the
// server instead of silently mapping nobody.

import { createHash, type X509Certificate } from 'node:crypto';
import { x509 } from '../ca/x509.ts';
import type { CertLoginMapping } from '../config/config.ts';
import { isPrincipalName } from '../policy/names.ts';
import { normalizeRdns, type CertificateNames } from './identity.ts';

/** The principal the first matching rule names, or undefined. */
export type CertificateMapper = (certificate: X509Certificate, names: CertificateNames) => string | undefined;

type Test = (certificate: X509Certificate, names: CertificateNames, fingerprint: () => string) => boolean;

export function compileMappings(mappings: readonly CertLoginMapping[], setting = 'certLogin.mappings'): CertificateMapper {
  const rules = mappings.map((mapping, index) => compileRule(mapping, `${setting}[${index}]`));
  return (certificate, names) => {
    let hex: string | undefined;
    const fingerprint = (): string => (hex ??= createHash('sha256').update(certificate.raw).digest('hex'));
    return rules.find((rule) => rule.tests.every((test) => test(certificate, names, fingerprint)))?.principal;
  };
}

function compileRule(mapping: CertLoginMapping, where: string): { principal: string; tests: Test[] } {
  if (!isPrincipalName(mapping.principal)) throw new Error(`${where}.principal "${String(mapping.principal)}" is not a principal; write "<domain>.<service>"`);
  const tests: Test[] = [];
  if (mapping.subject !== undefined) tests.push(subjectTest(mapping.subject, where));
  if (mapping.san !== undefined) tests.push(sanTest(mapping.san));
  if (mapping.fingerprint !== undefined) tests.push(fingerprintTest(mapping.fingerprint, where));
  if (tests.length === 0) throw new Error(`${where} matches every certificate; give at least one of subject, san or fingerprint`);
  return { principal: mapping.principal, tests };
}

/** RFC 4514 strings list the most specific RDN first, certificates the reverse; either order is accepted. */
function subjectTest(subject: string, where: string): Test {
  let rdns;
  try {
    rdns = normalizeRdns(new x509.Name(subject).toJSON());
  } catch (error) {
    throw new Error(`${where}.subject "${subject}" is not a distinguished name (${(error as Error).message}); write it as RFC 4514 does, with upper-case attribute names, e.g. "CN=billing,O=Example Corp,C=US"`);
  }
  if (rdns.length === 0) throw new Error(`${where}.subject is empty; write a distinguished name such as "CN=billing,O=Example Corp"`);
  const forward = JSON.stringify(rdns);
  const reversed = JSON.stringify([...rdns].reverse());
  return (_certificate, names) => {
    const actual = JSON.stringify(names.subject);
    return actual === forward || actual === reversed;
  };
}

function sanTest(san: string): Test {
  const lower = san.toLowerCase();
  return (_certificate, names) => names.dns.some((dns) => dns.toLowerCase() === lower) || names.uris.includes(san) || names.emails.includes(san);
}

function fingerprintTest(fingerprint: string, where: string): Test {
  const hex = fingerprint.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${where}.fingerprint must be the SHA-256 of the DER certificate in hex (64 digits, colons optional)`);
  return (_certificate, _names, actual) => actual() === hex;
}

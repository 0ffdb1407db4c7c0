// Certificates from external CAs name no Tessera principal, so operators map them
// (`certLogin.mappings`, for certificate login and mutual TLS client authentication): by subject DN, by a SAN
// value, or by the certificate's SHA-256 fingerprint. A rule matches when the certificate chains
// to one of the CA files the rule names (`cas`) and every other field it gives matches; the
// first matching rule wins. A rule thus applies only where its CA is trusted: at the token
// endpoint for a file of `mtls.externalCas`, at certificate login (only when it is on) for one
// of `certLogin.trustedCas`, and a subject or SAN that another trusted CA also signs maps
// nothing. Wherever a certificate is mapped, `certLogin.requireClientAuthEku` holds. Rules are
// checked once, at start, so a typo stops the server instead of silently mapping nobody.

import { createHash } from 'node:crypto';
import { x509 } from '../ca/x509.ts';
import type { CertLoginMapping } from '../config/config.ts';
import { isPrincipalName } from '../policy/names.ts';
import { checkExtendedKeyUsage, normalizeRdns, type ClientAuthEkuRule } from './identity.ts';
import type { VerifiedClientCertificate } from './peer-certificate.ts';

/** What a mapping reads of a verified certificate from an external CA. */
export type MappedCertificate = Pick<VerifiedClientCertificate, 'certificate' | 'names' | 'caFile' | 'extendedKeyUsages'>;

/**
 * The principal the first matching rule names, or undefined. Throws ClientCertificateError when
 * the certificate's extended key usage breaks the rule mapped certificates are held to.
 */
export type CertificateMapper = (peer: MappedCertificate) => string | undefined;

export interface MappingOptions {
  /** `certLogin.requireClientAuthEku`: a mapped certificate must carry the clientAuth extended key usage. */
  requireClientAuthEku: boolean;
  setting?: string;
}

type Test = (peer: MappedCertificate, fingerprint: () => string) => boolean;

export function compileMappings(mappings: readonly CertLoginMapping[], options: MappingOptions): CertificateMapper {
  const setting = options.setting ?? 'certLogin.mappings';
  const rules = mappings.map((mapping, index) => compileRule(mapping, `${setting}[${index}]`));
  const ekuRule: ClientAuthEkuRule = options.requireClientAuthEku ? 'required' : 'if-present';
  return (peer) => {
    checkExtendedKeyUsage(peer.extendedKeyUsages, ekuRule);
    let hex: string | undefined;
    const fingerprint = (): string => (hex ??= createHash('sha256').update(peer.certificate.raw).digest('hex'));
    return rules.find((rule) => rule.tests.every((test) => test(peer, fingerprint)))?.principal;
  };
}

function compileRule(mapping: CertLoginMapping, where: string): { principal: string; tests: Test[] } {
  if (!isPrincipalName(mapping.principal)) throw new Error(`${where}.principal "${String(mapping.principal)}" is not a principal; write "<domain>.<service>"`);
  if (!Array.isArray(mapping.cas) || mapping.cas.length === 0) {
    throw new Error(`${where} names no CA; add "cas": [...] with the files of mtls.externalCas or certLogin.trustedCas whose certificates it maps`);
  }
  const tests: Test[] = [];
  if (mapping.subject !== undefined) tests.push(subjectTest(mapping.subject, where));
  if (mapping.san !== undefined) tests.push(sanTest(mapping.san));
  if (mapping.fingerprint !== undefined) tests.push(fingerprintTest(mapping.fingerprint, where));
  if (tests.length === 0) {
    throw new Error(`${where} matches every certificate of its CAs; give at least one of subject, san or fingerprint`);
  }
  const cas = new Set(mapping.cas);
  // First: of a CA the rule does not name, nothing else about the certificate counts.
  const ofItsCas: Test = (peer) => peer.caFile !== undefined && cas.has(peer.caFile);
  return { principal: mapping.principal, tests: [ofItsCas, ...tests] };
}

/** RFC 4514 strings list the most specific RDN first, certificates the reverse; either order is accepted. */
function subjectTest(subject: string, where: string): Test {
  let rdns;
  try {
    rdns = normalizeRdns(new x509.Name(subject).toJSON());
  } catch (error) {
    throw new Error(
      `${where}.subject "${subject}" is not a distinguished name (${(error as Error).message}); write it as RFC 4514 does, with upper-case attribute names, e.g. "CN=billing,O=Example Corp,C=US"`,
    );
  }
  if (rdns.length === 0) throw new Error(`${where}.subject is empty; write a distinguished name such as "CN=billing,O=Example Corp"`);
  const forward = JSON.stringify(rdns);
  const reversed = JSON.stringify([...rdns].reverse());
  return ({ names }) => {
    const actual = JSON.stringify(names.subject);
    return actual === forward || actual === reversed;
  };
}

function sanTest(san: string): Test {
  const lower = san.toLowerCase();
  return ({ names }) => names.dns.some((dns) => dns.toLowerCase() === lower) || names.uris.includes(san) || names.emails.includes(san);
}

function fingerprintTest(fingerprint: string, where: string): Test {
  const hex = fingerprint.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${where}.fingerprint must be the SHA-256 of the DER certificate in hex (64 digits, colons optional)`);
  return (_peer, actual) => actual() === hex;
}

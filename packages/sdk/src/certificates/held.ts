// What the refresher holds: a private key and the certificate Tessera issued for it, checked
// before use. A certificate for another key, for another principal, or without its issuer in the
// chain would leave the service with TLS material that cannot work, so it is refused here rather
// than discovered at the first handshake.

import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import type { CertificateMaterial } from '../client/options.ts';
import type { IssueAnswer } from './ca-client.ts';
import { CertificateRefresherError } from './errors.ts';
import { privateKeyPem } from './keys.ts';

/** A key and its certificate, with what the schedule and the events need to know of it. */
export interface Held {
  key: KeyObject;
  /** For the token client and TLS: `cert` is the leaf then its intermediates; `key` PKCS#8 PEM. */
  material: CertificateMaterial & { cert: string; key: string };
  /** The chain as the CA sent it: intermediates, then the root. */
  chain: string;
  /** Tessera's trust bundle: its issuing CAs and roots (TLS uses the issuing CAs, http/anchors.ts). */
  ca: string;
  principal: string;
  spiffeId: string | null;
  serial: string;
  notBefore: number;
  notAfter: number;
  thumbprint: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitCertificates(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/** A CA answer, checked and laid out as the files of `outDir` (and of `tessera cert --out-dir`). */
export interface IssuedCertificate {
  leaf: X509Certificate;
  /** `cert.pem`: the leaf, then the intermediates of the chain. */
  certificate: string;
  /** `chain.pem`: the chain as the CA sent it. */
  chain: string;
  /** `ca.pem`: the trust bundle, plus any root of the chain it lacks. */
  ca: string;
}

/**
 * Checks a CA answer (`POST /ca/v1/certificates`) before anything uses it: the certificate must
 * parse, be for `key`, be issued by a certificate of the chain, be for `principal` (when given)
 * and not be expired at `now`. A `problem` says what is wrong, in words that complete "the
 * answer cannot be used: …", so each caller phrases the error its own way.
 */
export function checkIssuedCertificate(
  answer: IssueAnswer,
  bundle: string,
  key: KeyObject,
  now: number,
  principal?: string,
): IssuedCertificate | { problem: string } {
  const leaf = parse(splitCertificates(answer.certificate)[0]);
  if (leaf === undefined) return { problem: '"certificate" holds no PEM certificate' };
  const chain: { pem: string; certificate: X509Certificate }[] = [];
  for (const pem of splitCertificates(answer.chain)) {
    const certificate = parse(pem);
    if (certificate === undefined) return { problem: '"chain" holds a certificate that does not parse' };
    chain.push({ pem, certificate });
  }
  if (!leaf.checkPrivateKey(key)) return { problem: 'the certificate is not for the key of the CSR' };
  if (!chain.some(({ certificate }) => issued(leaf, certificate))) return { problem: 'the chain holds no certificate that issued the leaf' };
  const cn = commonName(leaf);
  if (principal !== undefined && cn !== principal) return { problem: `the certificate is for ${cn}, not ${principal}` };
  if (Date.parse(leaf.validTo) <= now) return { problem: `the certificate expired at ${new Date(leaf.validTo).toISOString()}` };

  const intermediates = chain.filter(({ certificate }) => !issued(certificate, certificate)).map(({ pem }) => pem);
  const chainPem = pemFile(chain.map(({ pem }) => pem));
  return { leaf, certificate: pemFile([leaf.toString(), ...intermediates]), chain: chainPem, ca: trustFrom(bundle, chainPem) };
}

/** Checks a CA answer for `key` and `principal` and makes it what the refresher holds. */
export function acceptIssued(answer: IssueAnswer, bundle: string, key: KeyObject, principal: string, now: number): Held {
  const checked = checkIssuedCertificate(answer, bundle, key, now, principal);
  if ('problem' in checked) throw new CertificateRefresherError(`the CA's answer cannot be used: ${checked.problem}`, { code: 'ERR_CA_ANSWER_INVALID' });
  const held = describe(checked.leaf, key, checked.chain, checked.ca);
  return { ...held, material: { cert: checked.certificate, key: held.material.key }, chain: checked.chain, ca: checked.ca };
}

/**
 * The roots to trust: the bundle's, and the root `chain` ends in when the bundle lacks it (a CA
 * rotation seen half-way): that root came over the same authenticated connection as a bundle.
 */
export function trustFrom(bundle: string, chain: string): string {
  const bundlePems = splitCertificates(bundle);
  const bundleRoots = new Set(bundlePems.map((pem) => new X509Certificate(pem).fingerprint256));
  const missingRoots = splitCertificates(chain).filter((pem) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      return false; // a chain.pem read back from outDir is not checked
    }
    return issued(certificate, certificate) && !bundleRoots.has(certificate.fingerprint256);
  });
  return pemFile([...bundlePems, ...missingRoots]);
}

/** Whether two PEM bundles hold the same certificates, in whatever order and layout. */
export function sameCertificates(a: string, b: string): boolean {
  const set = (pem: string): Set<string> => new Set(splitCertificates(pem).map((block) => block.replace(/\s+/g, '')));
  const left = set(a);
  const right = set(b);
  return left.size === right.size && [...left].every((block) => right.has(block));
}

/** A key and certificate read back (from `outDir`), described the same way. */
export function describe(leaf: X509Certificate, key: KeyObject, chain: string, ca: string, certificatePem?: string, keyPem?: string): Held {
  return {
    key,
    material: { cert: certificatePem ?? pemFile([leaf.toString()]), key: keyPem ?? privateKeyPem(key) },
    chain,
    ca,
    principal: commonName(leaf),
    spiffeId: /(?:^|,\s*)URI:(spiffe:\/\/[^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1] ?? null,
    serial: leaf.serialNumber.toLowerCase(),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
    // RFC 8705 §3.1: base64url SHA-256 of the DER certificate.
    thumbprint: createHash('sha256').update(leaf.raw).digest('base64url'),
  };
}

function parse(pem: string | undefined): X509Certificate | undefined {
  try {
    return new X509Certificate(pem ?? '');
  } catch {
    return undefined;
  }
}

function commonName(leaf: X509Certificate): string {
  return /^CN=(.+)$/m.exec(leaf.subject)?.[1] ?? '';
}

function issued(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

export function pemFile(pems: readonly string[]): string {
  return `${pems.map((pem) => pem.trim()).join('\n')}\n`;
}

// CSRs for the tests, made the two ways clients make them: in-process with @peculiar/x509 (any
// names, any extension, quickly) and with the openssl binary (key types WebCrypto lacks).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webcrypto, x509 } from '../../src/ca/x509.ts';
import type { CryptoKeyPair } from '../../src/ca/x509.ts';
import { openssl } from './helpers.ts';

export type KeyKind = 'p256' | 'p384' | 'p521' | 'ed25519' | 'rsa1024' | 'rsa2048';

interface KeyAlgorithm {
  generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm;
  sign: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);
const ALGORITHMS: Record<KeyKind, KeyAlgorithm> = {
  p256: { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  p384: { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  p521: { generate: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  rsa1024: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: RSA_EXPONENT, hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  rsa2048: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: RSA_EXPONENT, hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

export async function generateKeys(kind: KeyKind): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHMS[kind].generate, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export interface CsrOptions {
  kind?: KeyKind;
  keys?: CryptoKeyPair;
  /** e.g. `CN=alpha.api`; empty for no subject. */
  subject?: string;
  sans?: x509.JsonGeneralNames;
  extensions?: x509.Extension[];
}

export interface TestCsr {
  pem: string;
  der: Uint8Array;
  keys: CryptoKeyPair;
}

export async function makeCsr(options: CsrOptions = {}): Promise<TestCsr> {
  const kind = options.kind ?? 'p256';
  const keys = options.keys ?? (await generateKeys(kind));
  const extensions = [...(options.extensions ?? [])];
  if (options.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(options.sans));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: options.subject ?? '', keys, signingAlgorithm: ALGORITHMS[kind].sign, extensions },
    webcrypto,
  );
  return { pem: csr.toString('pem'), der: new Uint8Array(csr.rawData), keys };
}

/** The names of `alpha.api` under the test settings, as CSR SANs. */
export const OWN_SANS: x509.JsonGeneralNames = [
  { type: 'url', value: 'spiffe://tessera.test/alpha/api' },
  { type: 'dns', value: 'api.alpha.svc.tessera.test' },
];

/** A CSR from the openssl binary: `newKey` are the `openssl req` key options, e.g. `['-newkey', 'ed448']`. */
export async function opensslCsr(dir: string, name: string, newKey: string[], extra: string[] = []): Promise<string> {
  const out = join(dir, `${name}.csr`);
  const result = await openssl(['req', '-new', ...newKey, '-nodes', '-keyout', join(dir, `${name}.key`), '-subj', '/CN=alpha.api', ...extra, '-out', out]);
  if (!result.ok) throw new Error(`openssl req failed: ${result.output}`);
  return readFile(out, 'utf8');
}

/** A copy of `der` with the byte at `index` (negative: from the end) flipped. */
export function flipByte(der: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(der);
  const at = index < 0 ? copy.length + index : index;
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE REQUEST'): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

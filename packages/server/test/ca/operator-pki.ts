// An operator's own PKI for the `ca.import` tests: a root, optionally a middle CA, and the issuing
// CA Tessera is given, each with its key, with knobs to make every kind of broken chain.

import { createPrivateKey } from 'node:crypto';
import { webcrypto, x509 } from '../../src/ca/x509.ts';
import type { CryptoKeyPair } from '../../src/ca/x509.ts';
import { generateKeys } from './csr-fixtures.ts';
import type { KeyKind } from './csr-fixtures.ts';
import { writeFiles } from './helpers.ts';

const DAY = 86_400_000;

export interface CaOptions {
  kind?: KeyKind;
  /** Defaults to true. */
  ca?: boolean;
  /** Defaults to keyCertSign | cRLSign; null for no keyUsage extension. */
  keyUsage?: number | null;
  pathLength?: number;
  notBefore?: number;
  notAfter?: number;
}

export interface IssuedCa {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

function signingAlgorithm(keys: CryptoKeyPair): webcrypto.Algorithm | webcrypto.EcdsaParams {
  const algorithm = keys.privateKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name === 'ECDSA') return { name: 'ECDSA', hash: algorithm.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' };
  return { name: algorithm.name };
}

/** A CA certificate for `name`, self-signed when `issuer` is absent. */
export async function makeCa(name: string, issuer: IssuedCa | null, options: CaOptions = {}): Promise<IssuedCa> {
  const keys = await generateKeys(options.kind ?? 'p256');
  const now = Date.now();
  const usage = options.keyUsage === undefined ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : options.keyUsage;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.ca ?? true, options.pathLength, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
  ];
  if (usage !== null) extensions.push(new x509.KeyUsagesExtension(usage, true));
  if (issuer !== null) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, webcrypto));
  const signer = issuer?.keys ?? keys;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${name}, O=Operator`,
      issuer: issuer === null ? `CN=${name}, O=Operator` : issuer.certificate.subject,
      notBefore: new Date(options.notBefore ?? now - DAY),
      notAfter: new Date(options.notAfter ?? now + 2 * 365 * DAY),
      publicKey: keys.publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: signingAlgorithm(signer),
      extensions,
    },
    webcrypto,
  );
  return { certificate, keys, pem: `${certificate.toString('pem')}\n` };
}

export async function pkcs8Pem(keys: CryptoKeyPair): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

export async function encryptedKeyPem(keys: CryptoKeyPair): Promise<string> {
  const key = createPrivateKey(await pkcs8Pem(keys));
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
}

/** Writes the key and chain files; returns the paths as `ca.import` takes them. */
export async function importFiles(dir: string, keyPem: string, chainPem: string): Promise<{ keyFile: string; chainFile: string }> {
  const paths = await writeFiles(dir, { 'operator-ca.key': keyPem, 'operator-chain.pem': chainPem });
  return { keyFile: paths['operator-ca.key'] ?? '', chainFile: paths['operator-chain.pem'] ?? '' };
}

export interface OperatorPki {
  root: IssuedCa;
  issuing: IssuedCa;
  files: { keyFile: string; chainFile: string };
}

/** Root → issuing CA, written out as a valid import. */
export async function operatorPki(dir: string, options: { root?: CaOptions; issuing?: CaOptions } = {}): Promise<OperatorPki> {
  const root = await makeCa('Operator Root', null, options.root);
  const issuing = await makeCa('Operator Issuing CA', root, { pathLength: 0, ...options.issuing });
  return { root, issuing, files: await importFiles(dir, await pkcs8Pem(issuing.keys), issuing.pem + root.pem) };
}

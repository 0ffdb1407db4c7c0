// An operator's own CA instead of the generated one (`ca.import`): the issuing CA's private key
// and its certificate chain up to a root, as PEM files. Everything is checked at start, so a key
// that does not match, a certificate that cannot sign certificates, or a broken or expired chain
// stops the server with a sentence naming the file and the fix, instead of producing
// certificates nobody can verify. Once checked, the key is sealed and stored exactly like a
// generated CA's.

import { X509Certificate, createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Sealer } from '../keys/master-key.ts';
import type { CaRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import type { NewCa } from './create-ca.ts';
import { CaImportError } from './errors.ts';
import { CA_KEY_TYPES, certificatesFromPem, importSigningKey, x509 } from './x509.ts';

export interface CaImportFiles {
  /** PEM private key of the issuing CA (PKCS#8, SEC1 or PKCS#1; not encrypted). */
  keyFile: string;
  /** PEM certificates: the issuing CA first, then each issuer, ending with the self-signed root. */
  chainFile: string;
}

export async function readImportedCa(files: CaImportFiles, now: number): Promise<NewCa> {
  const key = parseKey(files.keyFile, await readText(files.keyFile, 'ca.import.keyFile (TESSERA_CA_KEY_FILE)'));
  const chain = parseChain(files.chainFile, await readText(files.chainFile, 'ca.import.chainFile (TESSERA_CA_CHAIN_FILE)'));
  const issuingKeyPkcs8 = new Uint8Array(key.export({ type: 'pkcs8', format: 'der' }));
  if ((await importSigningKey(issuingKeyPkcs8)) === null) {
    throw new CaImportError(`${files.keyFile}: the CA key is ${describeKey(key)}; an imported CA key must be ${CA_KEY_TYPES}`);
  }
  checkKeyMatches(files, key, chain);
  checkChain(files.chainFile, chain, now);

  const pems = chain.map((certificate) => `${certificate.toString().trim()}\n`);
  return {
    record: { id: `ca_${randomUUID()}`, chainPem: pems.join(''), rootPem: pems.at(-1) ?? '', createdAt: now },
    issuingKeyPkcs8,
  };
}

/** The imported CA, checked and sealed: a generation waiting to be stored. */
export interface ImportedCa {
  files: CaImportFiles;
  record: Omit<CaRecord, 'state'>;
  /** DER of the issuing certificate: how a stored generation is recognised as this import. */
  issuing: Buffer;
}

/** Reads and checks the files, and seals the key bound to the new generation's id. */
export async function readAndSealImportedCa(files: CaImportFiles, sealer: Sealer, now: number): Promise<ImportedCa> {
  const imported = await readImportedCa(files, now);
  try {
    const sealedPrivateKey = sealer.seal(imported.issuingKeyPkcs8, imported.record.id);
    return { files, record: { ...imported.record, sealedPrivateKey }, issuing: issuingDer(imported.record.chainPem) ?? Buffer.alloc(0) };
  } finally {
    imported.issuingKeyPkcs8.fill(0);
  }
}

/**
 * Where the import stands among the stored generations, after one step towards storing it:
 * `stored` (it is a prepared or active generation, or was just added), `retired` (it was used
 * and has since been replaced), `waiting` (another rotation is pending; the one prepared slot
 * frees when that generation activates, and a later refresh adds the import then).
 */
export type ImportStanding = { standing: 'stored' | 'waiting' | 'retired'; generation: CaRecord | null };

/**
 * On an empty store the import is active at once (nobody trusts anything yet); otherwise it is
 * prepared and takes over after the pre-publication window like any successor, so its root
 * reaches verifiers before it signs.
 */
export async function adoptImportedCa(
  store: Pick<Store, 'initCa' | 'insertPreparedCa'>,
  imported: ImportedCa,
  records: readonly CaRecord[],
  now: number,
): Promise<ImportStanding> {
  const same = records.find((record) => issuingDer(record.chainPem)?.equals(imported.issuing));
  if (same !== undefined) return { standing: same.state === 'old' ? 'retired' : 'stored', generation: same };
  if (!records.some((record) => record.state === 'active')) {
    await store.initCa({ ...imported.record, state: 'active', createdAt: now });
    return { standing: 'stored', generation: null };
  }
  const pending = records.find((record) => record.state === 'prepared');
  if (pending !== undefined) return { standing: 'waiting', generation: pending };
  // False only when another instance prepared a generation first; the next refresh sees which.
  // Created now, not when the files were read: its pre-publication window starts when it joins the bundle.
  await store.insertPreparedCa({ ...imported.record, state: 'prepared', createdAt: now });
  return { standing: 'stored', generation: null };
}

function issuingDer(chainPem: string): Buffer | undefined {
  const [first] = certificatesFromPem(chainPem);
  return first === undefined ? undefined : Buffer.from(first.rawData);
}

async function readText(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CaImportError(`${setting}: cannot read ${path}: ${why}`);
  }
}

function parseKey(path: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE' || /encrypted/i.test(pem)) {
      throw new CaImportError(
        `${path}: the CA key is encrypted; give Tessera the decrypted key (\`openssl pkey -in ${path} -out <new file>\`, mode 0600): Tessera seals it with the master key itself`,
      );
    }
    throw new CaImportError(`${path}: not a PEM private key ("-----BEGIN PRIVATE KEY-----", "EC PRIVATE KEY" or "RSA PRIVATE KEY")`);
  }
}

function parseChain(path: string, pem: string): x509.X509Certificate[] {
  let certificates: x509.X509Certificate[];
  try {
    certificates = x509.PemConverter.decodeWithHeaders(pem)
      .filter((block) => block.type === 'CERTIFICATE')
      .map((block) => new x509.X509Certificate(block.rawData));
  } catch {
    throw new CaImportError(`${path}: a certificate in the chain does not parse; the file must hold PEM certificates ("-----BEGIN CERTIFICATE-----")`);
  }
  if (certificates.length === 0)
    throw new CaImportError(`${path}: holds no PEM certificate; put the issuing CA's certificate first, then its issuers up to the root`);
  return certificates;
}

function checkKeyMatches(files: CaImportFiles, key: KeyObject, chain: readonly x509.X509Certificate[]): void {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const matches = (certificate: x509.X509Certificate): boolean => spki.equals(Buffer.from(certificate.publicKey.rawData));
  if (chain[0] !== undefined && matches(chain[0])) return;
  const at = chain.findIndex(matches);
  if (at > 0) {
    throw new CaImportError(
      `${files.chainFile}: the key in ${files.keyFile} belongs to certificate ${at + 1} (${chain[at]?.subject}); put the issuing CA's certificate first, then its issuers up to the root`,
    );
  }
  throw new CaImportError(
    `${files.keyFile}: the key does not match the first certificate of ${files.chainFile} (${chain[0]?.subject}); give the issuing CA's own key and certificate`,
  );
}

function checkChain(path: string, chain: readonly x509.X509Certificate[], now: number): void {
  const parsed = chain.map((certificate) => new X509Certificate(Buffer.from(certificate.rawData)));
  chain.forEach((certificate, index) => {
    const where = `${path}: certificate ${index + 1} (${certificate.subject})`;
    const basic = certificate.getExtension(x509.BasicConstraintsExtension);
    if (basic === null || !basic.ca)
      throw new CaImportError(`${where} is not a CA certificate (basicConstraints cA=true is missing); a CA chain holds CA certificates only`);
    // pathLenConstraint counts the CA certificates that may follow it towards the leaf.
    if (basic.pathLength !== undefined && basic.pathLength < index) {
      throw new CaImportError(`${where} allows ${basic.pathLength} CA certificate(s) below it (pathLenConstraint), but the chain has ${index}`);
    }
    const usage = certificate.getExtension(x509.KeyUsagesExtension);
    if ((usage === null && index === 0) || (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0)) {
      throw new CaImportError(`${where} may not sign certificates (keyUsage keyCertSign is missing)`);
    }
    if (certificate.notBefore.getTime() > now) throw new CaImportError(`${where} is not valid before ${certificate.notBefore.toISOString()}`);
    if (certificate.notAfter.getTime() <= now) throw new CaImportError(`${where} expired at ${certificate.notAfter.toISOString()}`);
    const issuer = parsed[index + 1] ?? parsed[index];
    const self = parsed[index];
    if (issuer === undefined || self === undefined) return;
    if (!self.checkIssued(issuer) || !self.verify(issuer.publicKey)) {
      throw new CaImportError(
        index + 1 < chain.length
          ? `${where} is not signed by certificate ${index + 2} (${chain[index + 1]?.subject}); list each certificate's issuer right after it`
          : `${where} is last but not a self-signed root; end the chain with the root certificate`,
      );
    }
  });
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `EC on ${details.namedCurve ?? 'an unknown curve'}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength ?? '?'} bits`;
  return key.asymmetricKeyType ?? 'of an unknown type';
}

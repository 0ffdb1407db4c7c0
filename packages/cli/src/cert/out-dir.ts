// The files `tessera cert` keeps in --out-dir: the names, modes and atomic replacement of the
// SDK's certificate refresher (each file through a flushed temp file renamed over the old one),
// so the command and a service's refresher can take turns on one directory.

import { X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

import { parsePrivateKey } from '../private-key.ts';
import { commonNameOf } from '../client-certificate.ts';
import { CliError, UsageError, describeError } from '../errors.ts';
import { fileExists, readInputFile } from '../files.ts';
import { CERTIFICATE_FILES, CERTIFICATE_MODE, KEY_MODE, TEMP_FILE, replaceCertificateFiles, splitCertificates } from '../sdk.ts';

/** Absolute paths of the files in --out-dir. */
export interface CertificatePaths {
  /** The private key, PKCS#8, mode 0600. */
  key: string;
  /** The leaf then its intermediates: what a TLS client or server presents. */
  certificate: string;
  /** The chain as the server returned it: intermediates, then the root. */
  chain: string;
  /** Tessera's trust bundle (`GET /ca/v1/bundle`): what peers' certificates are verified against. */
  ca: string;
}

const NAMES = CERTIFICATE_FILES;

export function certificatePaths(outDir: string): CertificatePaths {
  return {
    key: path.join(outDir, NAMES.key),
    certificate: path.join(outDir, NAMES.certificate),
    chain: path.join(outDir, NAMES.chain),
    ca: path.join(outDir, NAMES.ca),
  };
}

export interface FileContent {
  file: string;
  content: string;
  mode: number;
}

export { CERTIFICATE_MODE, KEY_MODE };

/**
 * Makes --out-dir (0700: it holds a private key) unless told not to, and removes temp files a
 * killed earlier run left behind. Only names this command makes are touched.
 */
export async function prepareOutDir(outDir: string, create: boolean): Promise<void> {
  try {
    if (create) await mkdir(outDir, { recursive: true, mode: 0o700 });
    else if (!(await directoryExists(outDir))) return;
    for (const name of await readdir(outDir)) {
      if (TEMP_FILE.test(name)) await unlink(path.join(outDir, name)).catch(ignoreMissing);
    }
  } catch (error) {
    throw new UsageError(`cannot use --out-dir ${outDir}: ${describeError(error)}`, { cause: error });
  }
}

/** All files together, the first renamed first (the key, when it changed): the SDK's replaceCertificateFiles. */
export async function replaceFiles(files: readonly FileContent[]): Promise<void> {
  const dir = path.dirname(files[0]?.file ?? '.');
  try {
    await replaceCertificateFiles(
      dir,
      files.map(({ file, content, mode }) => ({ name: path.basename(file), content, mode })),
    );
  } catch (error) {
    throw new CliError(describeError(error), undefined, { cause: error });
  }
}

async function directoryExists(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() === true;
}

function ignoreMissing(error: unknown): void {
  if ((error as { code?: unknown } | null)?.code !== 'ENOENT') throw error;
}

/** The certificate and key --out-dir holds now: what renewal presents over mTLS. */
export interface CurrentCertificate {
  /** cert.pem as it is: the leaf, then any intermediates. */
  certificatePem: string;
  keyPem: string;
  key: KeyObject;
  leaf: X509Certificate;
  principal: string | undefined;
  serial: string;
  notBefore: number;
  notAfter: number;
}

/** Reads cert.pem and key.pem; a missing, foreign or mismatched file is a usage error. */
export async function readCurrentCertificate(outDir: string, cwd: string): Promise<CurrentCertificate> {
  const paths = certificatePaths(outDir);
  const shown = { certificate: shownPath(paths.certificate, cwd), key: shownPath(paths.key, cwd) };
  const certificatePem = await readInputFile(cwd, shown.certificate, 'certificate file');
  const keyPem = await readInputFile(cwd, shown.key, 'key file');
  const [leafPem] = splitCertificates(certificatePem);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem ?? '');
  } catch {
    throw new UsageError(`certificate file ${shown.certificate} holds no PEM certificate`);
  }
  const key = parsePrivateKey(keyPem, shown.key);
  if (!leaf.checkPrivateKey(key)) {
    throw new UsageError(`key file ${shown.key} is not the private key of the certificate in ${shown.certificate}`);
  }
  return { certificatePem, keyPem, key, leaf, ...describeCertificate(leaf) };
}

/** Relative to the working directory when inside it, else absolute: the shorter true name. */
export function shownPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

export async function hasCurrentCertificate(outDir: string): Promise<boolean> {
  const paths = certificatePaths(outDir);
  return (await fileExists(paths.certificate)) && (await fileExists(paths.key));
}

export function describeCertificate(leaf: X509Certificate): Pick<CurrentCertificate, 'principal' | 'serial' | 'notBefore' | 'notAfter'> {
  return {
    principal: commonNameOf(leaf),
    // Lower-case hex, as Tessera's admin API and CRL name serials.
    serial: leaf.serialNumber.toLowerCase(),
    notBefore: leaf.validFromDate.getTime(),
    notAfter: leaf.validToDate.getTime(),
  };
}

// The files `tessera cert` keeps in --out-dir, and how they are replaced: each through a temp
// file in the same directory, flushed to disk, then renamed over the old one. A rename within
// one file system is atomic, so a reader (or a crash, or kill -9) sees the old file or the new
// one, never a half-written one.

import { X509Certificate, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

import { parsePrivateKey } from '../private-key.ts';
import { commonNameOf } from '../client-certificate.ts';
import { CliError, UsageError, describeError } from '../errors.ts';
import { fileExists, readInputFile } from '../files.ts';

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

const NAMES = { key: 'key.pem', certificate: 'cert.pem', chain: 'chain.pem', ca: 'ca.pem' } as const;
const TEMP_FILE = /^\.(?:key|cert|chain|ca)\.pem\.[0-9a-f]{12}\.tmp$/;

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

export const KEY_MODE = 0o600;
// Certificates are public; the umask may still narrow this.
export const CERTIFICATE_MODE = 0o644;

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

/**
 * Writes every file to a temp file first and renames them only once all are on disk, so a
 * failure while writing leaves the old set untouched. The directory is flushed last so the
 * renames themselves survive a power cut.
 */
export async function replaceFiles(files: readonly FileContent[]): Promise<void> {
  const written: { temp: string; file: string }[] = [];
  try {
    for (const { file, content, mode } of files) {
      const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
      // 'wx': never follow or reuse a file someone else put at the temp name.
      const handle = await open(temp, 'wx', mode);
      written.push({ temp, file });
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    for (const { temp, file } of written) await rename(temp, file);
  } catch (error) {
    await Promise.all(written.map(({ temp }) => unlink(temp).catch(ignoreMissing)));
    throw new CliError(`cannot write ${files.map(({ file }) => path.basename(file)).join(', ')}: ${describeError(error)}`, undefined, { cause: error });
  }
  await syncDirectories(files.map(({ file }) => path.dirname(file)));
}

async function syncDirectories(dirs: readonly string[]): Promise<void> {
  for (const dir of new Set(dirs)) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } catch {
      // Some file systems cannot fsync a directory; the renames are done either way.
    } finally {
      await handle.close();
    }
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

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitCertificates(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
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

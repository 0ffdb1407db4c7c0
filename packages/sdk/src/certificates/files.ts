// The files the refresher keeps in `outDir`, with the names and modes `tessera cert` uses, so the
// two can take turns on one directory. Each file is replaced through a temp file in the same
// directory, flushed to disk, then renamed over the old one: a rename within one file system is
// atomic, so a reader (or a crash, or kill -9) sees the old file or the new one, never half of one.

import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateRefresherError } from './errors.ts';
import { describe, splitCertificates, type Held } from './held.ts';
import { keyTypeOf } from './keys.ts';

/** The files of `outDir`, as `tessera cert --out-dir` names them too. */
export const CERTIFICATE_FILES = { key: 'key.pem', certificate: 'cert.pem', chain: 'chain.pem', ca: 'ca.pem' } as const;
const NAMES = CERTIFICATE_FILES;
/** The temp files {@link replaceCertificateFiles} makes; one a killed run left may be removed. */
export const TEMP_FILE = /^\.(?:key|cert|chain|ca)\.pem\.[0-9a-f]{12}\.tmp$/;
export const KEY_MODE = 0o600;
// Certificates are public; the umask may still narrow this.
export const CERTIFICATE_MODE = 0o644;

/** One file for {@link replaceCertificateFiles}: a name in the directory, its content and mode. */
export interface CertificateFile {
  name: string;
  content: string;
  mode: number;
}

function filesError(message: string, cause: unknown, where = ''): CertificateRefresherError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new CertificateRefresherError(`${message}: ${reason}${where}`, { code: 'ERR_FILES', cause });
}

/**
 * Makes `outDir` (0700: it will hold a private key) and removes temp files a killed earlier run
 * left. Done before the first request, so a directory that cannot be used fails before a
 * one-time join token is spent.
 */
export async function prepareOutDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) {
      if (TEMP_FILE.test(name)) await unlink(join(dir, name)).catch(() => {});
    }
    const probe = join(dir, `.ca.pem.${randomBytes(6).toString('hex')}.tmp`);
    await (await open(probe, 'wx', CERTIFICATE_MODE)).close();
    await unlink(probe);
  } catch (cause) {
    throw filesError(`cannot use outDir ${dir}`, cause);
  }
}

/**
 * Writes every file to a temp file first and renames them only once all are on disk, the key
 * first: a new certificate is never in place before its key. The key is skipped when unchanged.
 */
export function writeHeld(dir: string, held: Held, keyChanged: boolean): Promise<void> {
  return replaceCertificateFiles(dir, [
    ...(keyChanged ? [{ name: NAMES.key, content: held.material.key, mode: KEY_MODE }] : []),
    { name: NAMES.certificate, content: held.material.cert, mode: CERTIFICATE_MODE },
    { name: NAMES.chain, content: held.chain, mode: CERTIFICATE_MODE },
    { name: NAMES.ca, content: held.ca, mode: CERTIFICATE_MODE },
  ]);
}

/** Replaces `ca.pem` alone: the trust bundle changed, the certificate did not. */
export function writeTrust(dir: string, ca: string): Promise<void> {
  return replaceCertificateFiles(dir, [{ name: NAMES.ca, content: ca, mode: CERTIFICATE_MODE }]);
}

/**
 * Replaces files of `dir` all together: each is written to a temp file and flushed, and only once
 * all are on disk are they renamed over the old ones, in order (put the key first: a new
 * certificate is then never in place before its key). A failure leaves the old set untouched and
 * throws a CertificateRefresherError with code `ERR_FILES`.
 */
export async function replaceCertificateFiles(dir: string, files: readonly CertificateFile[]): Promise<void> {
  const written: { temp: string; file: string }[] = [];
  try {
    for (const { name, content, mode } of files) {
      const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      // 'wx': never follow or reuse a file someone else put at the temp name.
      const handle = await open(temp, 'wx', mode);
      written.push({ temp, file: join(dir, name) });
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    for (const { temp, file } of written) await rename(temp, file);
  } catch (cause) {
    await Promise.all(written.map(({ temp }) => unlink(temp).catch(() => {})));
    throw filesError(`cannot write ${files.map(({ name }) => name).join(', ')}`, cause, ` (in ${dir})`);
  }
  // The renames themselves survive a power cut only once the directory is flushed.
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the renames are done either way.
  } finally {
    await handle.close();
  }
}

/**
 * The certificate `outDir` already holds, when it is usable: for `principal`, matching its key,
 * not expired. Undefined otherwise, so the refresher bootstraps instead.
 */
export async function readHeld(dir: string, principal: string, now: number, fallbackCa: string): Promise<Held | undefined> {
  const read = (name: string): Promise<string | undefined> => readFile(join(dir, name), 'utf8').catch(() => undefined);
  const [certificatePem, keyPem, chain, ca] = await Promise.all([read(NAMES.certificate), read(NAMES.key), read(NAMES.chain), read(NAMES.ca)]);
  if (certificatePem === undefined || keyPem === undefined) return undefined;
  try {
    const key = createPrivateKey(keyPem);
    const [leafPem] = splitCertificates(certificatePem);
    const leaf = new X509Certificate(leafPem ?? '');
    if (keyTypeOf(key) === undefined || !leaf.checkPrivateKey(key)) return undefined;
    const held = describe(leaf, key, chain ?? '', ca ?? fallbackCa, certificatePem, keyPem);
    return held.principal === principal && held.notAfter > now ? held : undefined;
  } catch {
    return undefined;
  }
}

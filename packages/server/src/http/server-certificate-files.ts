// The operator's own server certificate (`tls.certFile`, `tls.keyFile`): read and checked at
// start, where a problem stops the server, and again on every change, where it leaves the pair in
// use in place. Each message names the file and says what to put there.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { readFailure } from '../config/file.ts';

export interface ServerCertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface OwnCertificate {
  /** The certificate file as written: the leaf, then the chain a client needs to reach its root. */
  certPem: string;
  keyPem: string;
  /** SHA-256 of the leaf, as openssl and Node show it (`AB:CD:…`). */
  fingerprint: string;
  /** Milliseconds since the epoch. */
  notAfter: number;
  leaf: X509Certificate;
}

export class ServerCertificateFileError extends Error {
  readonly code = 'TLS_FILES_INVALID';

  constructor(message: string) {
    super(message);
    this.name = 'ServerCertificateFileError';
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** @throws {ServerCertificateFileError} naming the file and what is wrong with it. */
export async function readOwnCertificate(files: ServerCertificateFiles, now: number): Promise<OwnCertificate> {
  const [certPem, keyPem] = await Promise.all([readPem(files.certFile, '--tls-cert, tls.certFile'), readPem(files.keyFile, '--tls-key, tls.keyFile')]);
  const block = PEM_CERTIFICATE.exec(certPem)?.[0];
  if (block === undefined) {
    throw new ServerCertificateFileError(
      `${files.certFile} (--tls-cert, tls.certFile) holds no PEM certificate; put the server certificate there (-----BEGIN CERTIFICATE-----), followed by its chain`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(block);
  } catch (error) {
    throw new ServerCertificateFileError(`the first certificate in ${files.certFile} (--tls-cert, tls.certFile) cannot be read: ${(error as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new ServerCertificateFileError(
      `${files.keyFile} (--tls-key, tls.keyFile) holds no PEM private key that can be read (an encrypted key is not supported); put the certificate's unencrypted private key there`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ServerCertificateFileError(
      `the private key in ${files.keyFile} does not match the certificate in ${files.certFile} (its first certificate); ` +
        'put the key the certificate was issued for there, and the server certificate first in the certificate file',
    );
  }
  if (leaf.validToDate.getTime() <= now) {
    throw new ServerCertificateFileError(`the certificate in ${files.certFile} expired on ${leaf.validToDate.toISOString()}; put a current certificate there`);
  }
  if (leaf.validFromDate.getTime() > now) {
    throw new ServerCertificateFileError(
      `the certificate in ${files.certFile} is not valid before ${leaf.validFromDate.toISOString()}; check this machine's clock, or put a certificate valid now there`,
    );
  }
  return { certPem, keyPem, fingerprint: leaf.fingerprint256, notAfter: leaf.validToDate.getTime(), leaf };
}

/** Whether a client that dials `host` (a DNS name or an IP address) accepts the certificate. */
export function certificateCovers(leaf: X509Certificate, host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) === 0 ? leaf.checkHost(bare) !== undefined : leaf.checkIP(bare) !== undefined;
}

async function readPem(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ServerCertificateFileError(`cannot read the server certificate file ${path} (${setting}): ${readFailure(error)}`);
  }
}

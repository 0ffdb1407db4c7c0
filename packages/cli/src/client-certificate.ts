// tls_client_auth (RFC 8705 §2.1): the client proves itself with the certificate it presents on
// the TLS connection; the token request only names the client. Checked locally first, so a
// mismatched key or a file of the wrong kind is a clear usage error instead of a TLS alert.

import { X509Certificate } from 'node:crypto';

import { parsePrivateKey } from './private-key.ts';
import type { TlsIdentity } from './connection.ts';
import { UsageError } from './errors.ts';
import { readInputFile } from './files.ts';

export interface ClientCertificate {
  identity: TlsIdentity;
  /** The leaf's subject CN: Tessera names a service certificate's subject after its principal. */
  commonName: string | undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export async function readClientCertificate(cwd: string, certFile: string, keyFile: string): Promise<ClientCertificate> {
  const certPem = await readInputFile(cwd, certFile, 'certificate file');
  const keyPem = await readInputFile(cwd, keyFile, 'key file');
  const [leafPem] = certPem.match(PEM_CERTIFICATE) ?? [];
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem ?? '');
  } catch {
    throw new UsageError(`certificate file ${certFile} holds no PEM certificate`);
  }
  const key = parsePrivateKey(keyPem, keyFile);
  if (!leaf.checkPrivateKey(key)) {
    throw new UsageError(`key file ${keyFile} is not the private key of the certificate in ${certFile}`);
  }
  // The whole file goes on the wire: intermediates after the leaf complete the chain.
  return { identity: { cert: certPem, key: keyPem }, commonName: commonNameOf(leaf) };
}

/** Node renders the subject one attribute per line, e.g. "O=Tessera\nCN=alpha.api". */
export function commonNameOf(certificate: X509Certificate): string | undefined {
  const names = certificate.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice('CN='.length));
  return names.at(-1);
}

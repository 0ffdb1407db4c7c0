// A throwaway PKI for TLS tests, made with the openssl command (an outsider's tool, not the code
// under test): a CA, a server certificate for 127.0.0.1 and client certificates with a given CN,
// for fake HTTPS servers that ask for a client certificate and for trust-bundle tests.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
}

export interface TestPki {
  ca: Pem;
  server: Pem;
  /** A new client certificate (fresh key) with subject CN `cn`, signed by the CA. */
  client(cn: string): Pem;
  dispose(): void;
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-test-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const ecKey = (name: string): void => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name);

  ecKey('ca.key');
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=Test CA',
    '-days',
    '2',
    '-out',
    'ca.pem',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const ca: Pem = { cert: read('ca.pem'), key: read('ca.key') };
  const issue = (cn: string, extensions: string): Pem => issueCertificate(ca, `/CN=${cn}`, extensions);
  const server = issue('127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  return {
    ca,
    server,
    client: (cn) => issue(cn, 'extendedKeyUsage=clientAuth\n'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

let serial = 1;

/**
 * A new certificate (fresh P-256 key) signed by `ca`, with `subject` in openssl's form
 * (`/CN=alpha.api/O=Example`) and `extensions` as lines of an openssl extension file
 * (`extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://…\n`), valid for a day.
 */
export function issueCertificate(ca: Pem, subject: string, extensions: string): Pem {
  const work = mkdtempSync(join(tmpdir(), 'tessera-test-cert-'));
  try {
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
    writeFileSync(join(work, 'ca.pem'), ca.cert);
    writeFileSync(join(work, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(work, 'ext'), extensions);
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem');
    openssl('req', '-new', '-key', 'key.pem', '-subj', subject, '-out', 'csr.pem');
    openssl(
      'x509',
      '-req',
      '-in',
      'csr.pem',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(serial++),
      '-days',
      '1',
      '-extfile',
      'ext',
      '-out',
      'cert.pem',
    );
    return { cert: readFileSync(join(work, 'cert.pem'), 'utf8'), key: readFileSync(join(work, 'key.pem'), 'utf8') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

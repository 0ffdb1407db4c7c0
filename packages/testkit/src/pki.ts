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
  let serial = 1;
  const issue = (name: string, cn: string, extensions: string): Pem => {
    ecKey(`${name}.key`);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(serial++),
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return { cert: read(`${name}.pem`), key: read(`${name}.key`) };
  };
  const server = issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  return {
    ca: { cert: read('ca.pem'), key: read('ca.key') },
    server,
    client: (cn) => issue(`client-${serial}`, cn, 'extendedKeyUsage=clientAuth\n'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

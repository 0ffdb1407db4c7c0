// Test PKI made with the openssl command: a CA, a server certificate for 127.0.0.1 and client
// certificates with a chosen CN, for fake HTTPS servers that ask for a client certificate.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPki {
  /** CA certificate (PEM). */
  ca: string;
  /** Server certificate for IP 127.0.0.1 and its key (PEM). */
  server: { cert: string; key: string };
  /** A client certificate with subject CN `cn`, signed by the CA. */
  client(cn: string): Promise<{ cert: string; key: string }>;
  dispose(): Promise<void>;
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-pki-'));
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ecKey = (name: string): void => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name));

  ecKey('ca.key');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Test CA', '-days', '2', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');

  let serial = 1;
  const issue = async (name: string, subject: string, extensions: string): Promise<{ cert: string; key: string }> => {
    ecKey(`${name}.key`);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    await writeFile(file(`${name}.ext`), extensions);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    return { cert: await readFile(file(`${name}.pem`), 'utf8'), key: await readFile(file(`${name}.key`), 'utf8') };
  };

  const server = await issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  let clients = 0;
  return {
    ca: await readFile(file('ca.pem'), 'utf8'),
    server,
    client: (cn) => issue(`client${clients++}`, `/O=Tessera tests/CN=${cn}`, 'extendedKeyUsage=clientAuth\n'),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

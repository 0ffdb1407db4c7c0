// `tessera serve --workers 2 --tls-cert … --tls-key …`: every worker serves the operator's
// certificate, and every worker serves the new one after the files are rewritten and the primary
// gets a SIGHUP. Each worker also polls the files on its own; the rewrite here keeps their inode,
// size and modification time, so that only the SIGHUP can be what reloads them. Connections are
// dealt round robin, so consecutive handshakes reach both workers.

import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkServerIdentity, connect } from 'node:tls';
import { x509 } from '../../server/src/ca/x509.ts';
import { makeCa, makeLeaf, type ClientCertificate, type TestCa } from '../../server/test/e2e/mtls-support.ts';
import { startCluster, type Cluster } from './serve-cluster-support.ts';

const NAME = 'byo.example.internal';

function fingerprint(url: string, ca: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port: Number(port), ca, servername: NAME, checkServerIdentity: (_h, c) => checkServerIdentity(NAME, c) },
      () => {
        const seen = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(seen);
      },
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

const colonHex = (leaf: ClientCertificate): string => leaf.fingerprintHex.toUpperCase().match(/../g)!.join(':');

describe('tessera serve --workers 2 with the operator’s certificate', () => {
  let dir: string;
  let root: TestCa;
  let issuing: TestCa;
  let cluster: Cluster;
  const certFile = (): string => join(dir, 'server.pem');
  const keyFile = (): string => join(dir, 'server.key');
  /** Writes in place and sets a fixed modification time: the poll sees no change when the sizes stay. */
  const install = async (leaf: ClientCertificate): Promise<void> => {
    await writeFile(keyFile(), leaf.keyPem);
    await writeFile(certFile(), leaf.certPem + issuing.certPem);
    for (const file of [keyFile(), certFile()]) await utimes(file, 1_700_000_000, 1_700_000_000);
  };
  const signature = async (): Promise<string> =>
    (await Promise.all([certFile(), keyFile()].map((file) => stat(file)))).map((info) => `${info.ino}:${info.size}:${info.mtimeMs}`).join('|');
  const leaf = () => makeLeaf(issuing, { dns: [NAME], eku: [x509.ExtendedKeyUsage.serverAuth] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cluster-tls-'));
    root = await makeCa('Operator Root');
    issuing = await makeCa('Operator Issuing', { issuer: root });
  });
  after(async () => {
    cluster?.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves it from both workers, and the rewritten one from both after SIGHUP', async () => {
    const first = await leaf();
    await install(first);
    cluster = await startCluster({
      dataDir: join(dir, 'data'),
      args: ['--workers', '2', '--issuer', `https://${NAME}:8446`, '--tls-cert', certFile(), '--tls-key', keyFile()],
    });
    const seen = [];
    for (let i = 0; i < 4; i += 1) seen.push(await fingerprint(cluster.url, root.certPem));
    assert.deepEqual(seen, Array(4).fill(colonHex(first)));

    // ECDSA signatures vary in length by a byte or two: a leaf of the same length keeps the size.
    let second = await leaf();
    for (let tries = 0; second.certPem.length !== first.certPem.length && tries < 50; tries += 1) second = await leaf();
    const before = await signature();
    await install(second);
    assert.equal(await signature(), before, 'the rewrite is invisible to the poll');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // past one poll interval
    assert.equal(await fingerprint(cluster.url, root.certPem), colonHex(first), 'not reloaded without SIGHUP');
    process.kill(cluster.child.pid!, 'SIGHUP');
    const deadline = Date.now() + 5000;
    for (;;) {
      const now = [];
      for (let i = 0; i < 4; i += 1) now.push(await fingerprint(cluster.url, root.certPem));
      if (now.every((value) => value === colonHex(second))) break;
      assert.ok(Date.now() < deadline, `not every worker serves the new certificate within 5 s: ${now.join(' ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const reloaded = cluster.lines().filter((line) => line['msg'] === 'server certificate reloaded');
    assert.equal(new Set(reloaded.map((line) => line['pid'])).size, 2, 'each worker reloaded');
    assert.equal(cluster.child.exitCode, null, 'SIGHUP does not end the primary');
    assert.equal(await cluster.stop(), 0);
  });
});

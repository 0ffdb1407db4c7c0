// Review 5 (outside attacker): the CLI's restore of a backup that brings its own key, where a
// credential goes, and the CA files it trusts without being told. Each test FAILS while the hole
// it names exists; the "held" ones pass and record what was tried.

import '../helpers/test-hosts.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { startTestServer } from '@tessera/testkit/server';
import { credentialTarget } from '../../src/credentials.ts';
import { makeWorkspace, runCli } from '../helpers/cli.ts';
import { startFakeTessera } from '../helpers/fake-tessera.ts';

const ID = 'sys.auth.admin';
const SECRET = 'review5-admin-secret';

describe('review5: restore of a backup that carries its own key', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('warns loudly (stderr) that nothing proves the backup is the operator’s when its own key checked its MAC', async () => {
    // Anyone can make such a file: a Tessera of their own, with a key of their own registered on
    // sys.auth.admin, backed up with --include-master-key. Restore checks the MAC with the key the
    // file carries, so it passes; the operator only sees a fingerprint in the summary.
    const work = await mkdtemp(path.join(tmpdir(), 'tessera-review5-restore-'));
    cleanup.push(() => rm(work, { recursive: true, force: true }));
    const forger = await startTestServer({ dataDir: path.join(work, 'forger') });
    cleanup.push(() => forger.stop({ keepData: true }));
    const forged = path.join(work, 'nightly.tar');
    const made = await runCli(['backup', '--data-dir', forger.dataDir, '--out', forged, '--include-master-key'], { cwd: work });
    assert.equal(made.code, 0, made.stderr);

    const restored = await runCli(['restore', '--from', forged, '--data-dir', path.join(work, 'restored')], { cwd: work });
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(
      restored.stderr,
      /warning:.*(not|cannot).*(prove|authentic|yours|forged)/i,
      'restore took the key from the backup itself (so a forged backup passes its MAC check) and printed no warning on stderr; ' +
        `stdout was: ${restored.stdout.replace(/\n/g, ' | ').slice(0, 200)}`,
    );
  });
});

describe('review5: CA files nobody named', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('./.tessera/ca.pem of a checked-out repository does not vouch for a remote server the user names', async () => {
    // The attacker publishes a repository holding .tessera/ca.pem (their CA); the victim clones it
    // (so the file is the victim's own, mode 0644: it passes the owner and mode checks), and from
    // there runs an admin command against their real server, which the attacker can intercept.
    const pki = await mkdtemp(path.join(tmpdir(), 'tessera-review5-pki-'));
    cleanup.push(() => rm(pki, { recursive: true, force: true }));
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Repo CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=tessera.test',
    );
    await writeFile(path.join(pki, 'ext'), 'subjectAltName=DNS:tessera.test\nextendedKeyUsage=serverAuth\n');
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '7',
      '-days',
      '1',
      '-extfile',
      'ext',
      '-out',
      'server.pem',
    );
    const ca = await readFile(path.join(pki, 'ca.pem'), 'utf8');
    const mitm = await startFakeTessera({
      clientId: ID,
      clientSecret: SECRET,
      tls: { cert: await readFile(path.join(pki, 'server.pem'), 'utf8'), key: await readFile(path.join(pki, 'server.key'), 'utf8'), ca },
    });
    cleanup.push(() => mitm.close());
    const port = new URL(mitm.url).port;

    const repo = await makeWorkspace();
    cleanup.push(() => rm(repo, { recursive: true, force: true }));
    await mkdir(path.join(repo, '.tessera'), { mode: 0o755 });
    await writeFile(path.join(repo, '.tessera', 'ca.pem'), ca, { mode: 0o644 });
    await chmod(repo, 0o755);
    const home = await makeWorkspace();
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    const credentials = path.join(home, 'admin.json');
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET }), { mode: 0o600 });

    const result = await runCli(['admin', 'domain', 'list', '--credentials', credentials, '--server', `https://tessera.test:${port}`], { cwd: repo, env: {} });
    const leaked = mitm.requests.some(
      (r) => JSON.stringify(r.headers).includes(Buffer.from(`${ID}:${SECRET}`).toString('base64')) || r.rawBody.includes(SECRET),
    );
    assert.equal(
      leaked,
      false,
      `a CA file in the working directory (a cloned repository's .tessera/ca.pem) was trusted for https://tessera.test:${port}, ` +
        `and the admin secret went to whoever holds that CA (exit ${result.code})`,
    );
  });
});

describe('review5: plain http only to loopback (held)', () => {
  const io = { stderr: { write: () => true } };
  const refused = (endpoint: string): boolean => {
    try {
      credentialTarget(undefined, new URL(endpoint), io as never);
      return false;
    } catch {
      return true;
    }
  };
  for (const endpoint of [
    'http://localhost./oauth2/token',
    'http://127.0.0.1.nip.io/oauth2/token',
    'http://127.0.0.1:80@evil.test/oauth2/token',
    'http://[::ffff:7f00:1]/oauth2/token',
    'http://localhost.evil.test/oauth2/token',
    'http://0.0.0.0/oauth2/token',
    'http://[::]/oauth2/token',
  ]) {
    it(`refuses ${endpoint} from a credential file`, () => assert.ok(refused(endpoint), endpoint));
  }
});

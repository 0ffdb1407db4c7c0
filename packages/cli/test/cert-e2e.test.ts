// `tessera cert` against a real Tessera over HTTPS: a join token made with `tessera admin`
// bootstraps a first certificate once and never twice (and its files work with `tessera token
// --cert` for a certificate-bound token), a registered key proves another,
// renewal over mTLS keeps the identity (and may rotate the key), a revoked serial cannot renew,
// --watch renews on its own, and every file written passes `openssl verify` against the bundle.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

import { runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';

/**
 * Lifetime of the certificates in this test: short enough for --watch to renew within seconds.
 * (With the minute of backdating, the 2/3 point of so short a certificate comes before the
 * one-minute floor --watch keeps after an issuance, so it renews at half the time left: 15 s.)
 */
const CERT_LIFETIME = 30;

describe('tessera cert against a real server', () => {
  let t: TestServer;
  let url: string;
  let dataDir: string;
  let cwd: string;
  let connection: string[];

  const cli = (argv: string[], extra: Parameters<typeof runCli>[1] | object = {}): Promise<CliResult> => runCli([...argv, ...connection], { cwd, ...extra });
  const admin = async (...argv: string[]): Promise<CliResult> => {
    const result = await cli(['admin', ...argv, '--credentials', path.join(dataDir, 'bootstrap-admin.json')]);
    assert.equal(result.code, 0, `tessera admin ${argv.join(' ')}: ${result.stderr}`);
    return result;
  };
  const cert = async (...argv: string[]): Promise<CliResult> => {
    const result = await cli(['cert', ...argv]);
    assert.equal(result.code, 0, `tessera cert ${argv.join(' ')}: ${result.stderr}`);
    return result;
  };
  const joinToken = async (principal: string): Promise<string> =>
    (JSON.parse((await admin('join-token', 'create', principal, '--ttl', '10m', '--json')).stdout) as { token: string }).token;
  const leafIn = async (dir: string): Promise<X509Certificate> => new X509Certificate(await readFile(path.join(cwd, dir, 'cert.pem'), 'utf8'));

  /** openssl's own chain building, as a client and as a server would check the certificate. */
  function opensslVerify(dir: string): void {
    const bundle = path.join(dataDir, 'ca.pem');
    for (const purpose of ['sslclient', 'sslserver']) {
      const output = execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', bundle, '-untrusted', 'chain.pem', 'cert.pem'], {
        cwd: path.join(cwd, dir),
        encoding: 'utf8',
      });
      assert.equal(output.trim(), 'cert.pem: OK', `openssl verify -purpose ${purpose}`);
    }
    const own = execFileSync('openssl', ['verify', '-CAfile', 'ca.pem', '-untrusted', 'chain.pem', 'cert.pem'], { cwd: path.join(cwd, dir), encoding: 'utf8' });
    assert.equal(own.trim(), 'cert.pem: OK', 'against the ca.pem written beside it');
  }

  before(async () => {
    t = await startTestServer({ edit: (config) => void (config.ca.certLifetime = CERT_LIFETIME) });
    ({ dataDir, url } = t);
    cwd = await mkdtemp(path.join(tmpdir(), 'tessera-cert-e2e-cwd-'));
    connection = ['--server', url, '--cacert', path.join(dataDir, 'ca.pem')];

    await admin('domain', 'create', 'alpha');
    await admin('service', 'create', 'alpha.api', '--no-secret');
    await writeFile(path.join(cwd, 'worker.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await admin('service', 'create', 'alpha.worker', '--no-secret', '--public-key', 'k1=worker.pem');
  });
  after(async () => {
    await t?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('bootstraps with a join token once, and refuses the same token a second time', async () => {
    const token = await joinToken('alpha.api');
    const result = await cert('--principal', 'alpha.api', '--out-dir', 'api', '--join-token', token, '--json');
    const printed = JSON.parse(result.stdout) as { serial: string; notAfter: string; files: Record<string, string> };
    const leaf = await leafIn('api');
    assert.equal(leaf.subject, 'CN=alpha.api');
    assert.deepEqual(leaf.subjectAltName?.split(', ').sort(), ['DNS:api.alpha.svc.tessera.local', 'URI:spiffe://tessera.local/alpha/api']);
    assert.equal(printed.serial, leaf.serialNumber.toLowerCase());
    assert.equal(printed.notAfter, leaf.validToDate.toISOString());
    assert.equal((await stat(printed.files.key!)).mode & 0o777, 0o600);
    assert.equal(await readFile(path.join(cwd, 'api', 'ca.pem'), 'utf8'), await readFile(path.join(dataDir, 'ca.pem'), 'utf8'));
    opensslVerify('api');

    const again = await cli(['cert', '--principal', 'alpha.api', '--out-dir', 'api-again', '--join-token', token]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^error: certificate request to ${url}/ca/v1/certificates: HTTP 401 invalid_proof: .+\\n$`));
  });

  it('the written cert.pem and key.pem get a certificate-bound token with tessera token --cert (tls_client_auth)', async () => {
    await admin('domain', 'create', 'beta');
    await admin('role', 'put', 'beta:role.readers', '--member', 'alpha.api');
    const result = await cli(['token', '--scope', 'beta:readers', '--cert', 'api/cert.pem', '--key', 'api/key.pem', '--decode']);
    assert.equal(result.code, 0, result.stderr);
    const { claims } = JSON.parse(result.stdout) as { claims: { sub: string; cnf?: Record<string, string> } };
    assert.equal(claims.sub, 'alpha.api');
    const thumbprint = createHash('sha256')
      .update((await leafIn('api')).raw)
      .digest('base64url');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprint });
  });

  it('gets a certificate with a key registered on the service (key assertion)', async () => {
    await cert('--principal', 'alpha.worker', '--out-dir', 'worker', '--key', 'worker.pem', '--kid', 'k1');
    const leaf = await leafIn('worker');
    assert.equal(leaf.subject, 'CN=alpha.worker');
    assert.equal(leaf.checkPrivateKey(createPrivateKey(await readFile(path.join(cwd, 'worker.pem'), 'utf8'))), true);
    opensslVerify('worker');

    await writeFile(path.join(cwd, 'stranger.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const unregistered = await cli(['cert', '--principal', 'alpha.worker', '--out-dir', 'nope', '--key', 'stranger.pem', '--kid', 'k1']);
    assert.equal(unregistered.code, 1);
    assert.match(unregistered.stderr, /HTTP 403 forbidden: the CSR's public key is not a key registered on alpha\.worker; /);
  });

  it('renews over mTLS with the same identity and key, then with a rotated key', async () => {
    const before = await leafIn('api');
    const key = await readFile(path.join(cwd, 'api', 'key.pem'), 'utf8');
    const renewed = await cert('--renew', '--out-dir', 'api');
    assert.match(renewed.stdout, /^renewed certificate for alpha\.api: serial [0-9a-f]+, valid until \S+, written to api\n$/);
    const after = await leafIn('api');
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.equal(after.subjectAltName, before.subjectAltName);
    assert.equal(await readFile(path.join(cwd, 'api', 'key.pem'), 'utf8'), key);
    opensslVerify('api');

    await cert('--renew', '--rotate-key', '--key-type', 'p384', '--out-dir', 'api');
    const rotated = await leafIn('api');
    assert.equal(rotated.subjectAltName, before.subjectAltName);
    assert.equal(rotated.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.notEqual(await readFile(path.join(cwd, 'api', 'key.pem'), 'utf8'), key);
    opensslVerify('api');
  });

  it('cannot renew a revoked certificate', async () => {
    await cert('--principal', 'alpha.worker', '--out-dir', 'revoked', '--key', 'worker.pem', '--kid', 'k1');
    const serial = (await leafIn('revoked')).serialNumber.toLowerCase();
    await admin('certificate', 'revoke', serial, '--reason', 'keyCompromise');
    const result = await cli(['cert', '--renew', '--out-dir', 'revoked']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`^error: certificate request to \\S+: HTTP 401 invalid_proof: the client certificate \\(serial ${serial}\\) was revoked at \\S+; `),
    );
  });

  it('--watch renews on its own at about 2/3 of the lifetime and stops cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const signals = new EventEmitter();
    let stdout = '';
    const watching = run(['cert', '--principal', 'alpha.api', '--out-dir', 'watched', '--join-token', await joinToken('alpha.api'), '--watch', '--json'], {
      signals,
      random: () => 0,
      onStdout: (text) => (stdout += text),
    });
    const lines = async (count: number): Promise<Record<string, string>[]> => {
      const deadline = Date.now() + 40_000;
      while (stdout.trimEnd().split('\n').filter(Boolean).length < count) {
        if (Date.now() > deadline) throw new Error(`waited for ${count} lines; have: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, string>);
    };
    const [first] = await lines(1);
    const [, second] = await lines(2);
    signals.emit('SIGTERM');
    const result = await watching;
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(second?.serial, first?.serial);
    const [notBefore, notAfter, renewAt] = [first!.notBefore!, first!.notAfter!, first!.renewAt!].map((time) => Date.parse(time)) as [number, number, number];
    assert.ok(renewAt >= notBefore + 0.6 * (notAfter - notBefore) && renewAt < notAfter, 'planned between 60 % of the lifetime and expiry');
    // The server backdates notBefore by a minute; a second of slack for whole-second times.
    const renewedAt = Date.parse(second!.notBefore!) + 60_000;
    assert.ok(renewedAt >= renewAt - 1000 && renewedAt < notAfter, 'renewed when planned, before expiry');
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM'), 0);
    assert.equal((await leafIn('watched')).serialNumber.toLowerCase(), second?.serial);
    opensslVerify('watched');
  });

  function run(argv: string[], options: { signals: EventEmitter; random: () => number; onStdout: (text: string) => void }): Promise<CliResult> {
    let stderr = '';
    return import('../src/main.ts').then(async ({ run: main }) => {
      const code = await main([...argv, ...connection], {
        cwd,
        env: {},
        stdout: { write: options.onStdout },
        stderr: { write: (text: string) => (stderr += text) },
        signals: options.signals,
        random: options.random,
      });
      return { code, stdout: '', stderr };
    });
  }
});

// `tessera cert` against a fake CA that really signs: each proof sends what docs/certificates.md says, the
// CSR carries the right key and name, the four files land atomically with the right modes,
// renewal goes over mTLS, and every mistake is one line with the right exit code.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeCa } from './helpers/fake-ca.ts';
import type { CaRequest, FakeCa } from './helpers/fake-ca.ts';

const pkcs8 = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const spki = (key: KeyObject): string => createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();

describe('tessera cert', () => {
  let ca: FakeCa;
  let cwd: string;
  let n = 0;
  let out: string;

  before(async () => {
    ca = await startFakeCa();
    cwd = await makeWorkspace();
    await writeFile(path.join(cwd, 'tessera-ca.pem'), ca.root);
    await writeFile(path.join(cwd, 'join.token'), 'jt_from_file\n');
  });
  after(async () => {
    await ca.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    ca.requests.length = 0;
    ca.scripted.length = 0;
    ca.bundle = ca.root;
    out = `out${n++}`;
  });

  const cert = (...argv: string[]): Promise<CliResult> => runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', ...argv], { cwd });
  const file = (name: string): Promise<string> => readFile(path.join(cwd, out, name), 'utf8');
  const csrOf = (req: CaRequest | undefined): x509.Pkcs10CertificateRequest => new x509.Pkcs10CertificateRequest((req?.body as { csr: string }).csr);

  async function ok(...argv: string[]): Promise<CliResult> {
    const result = await cert(...argv);
    assert.equal(result.code, 0, `exit 0 expected; stderr: ${result.stderr}`);
    assert.equal(result.stderr, '');
    return result;
  }

  describe('a first certificate', () => {
    it('makes a P-256 key and a CSR for the principal, proves it with the join token and writes four files', async () => {
      const result = await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt_secret');
      const [bundle, request] = ca.requests;
      assert.deepEqual([bundle?.method, bundle?.path], ['GET', '/ca/v1/bundle'], 'the bundle first: nothing spent if it fails');
      assert.deepEqual([request?.method, request?.path], ['POST', '/ca/v1/certificates']);
      assert.deepEqual(Object.keys(request?.body as object).sort(), ['csr', 'proof']);
      assert.deepEqual((request?.body as { proof: unknown }).proof, { type: 'join-token', value: 'jt_secret' });

      const csr = csrOf(request);
      assert.equal(await csr.verify(webcrypto), true);
      assert.equal(csr.subject, 'CN=alpha.api');
      assert.equal(csr.extensions.length, 0, 'no SANs: the CA sets every name');
      const key = createPrivateKey(await file('key.pem'));
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(Buffer.from(csr.publicKey.rawData)), true);

      const certificates = (await file('cert.pem')).match(/-----BEGIN CERTIFICATE-----/g) ?? [];
      assert.equal(certificates.length, 2, 'cert.pem: the leaf then the intermediate');
      const leaf = new X509Certificate(await file('cert.pem'));
      assert.equal(leaf.subject, 'CN=alpha.api');
      assert.equal(leaf.checkPrivateKey(key), true);
      assert.equal(await file('chain.pem'), `${ca.intermediate.trim()}\n${ca.root.trim()}\n`);
      assert.equal(await file('ca.pem'), `${ca.root.trim()}\n`);
      assert.equal(
        result.stdout,
        `issued certificate for alpha.api: serial ${leaf.serialNumber.toLowerCase()}, valid until ${leaf.validToDate.toISOString()}, written to ${out}\n`,
      );
    });

    it('writes key.pem 0600 and the certificates 0644, in a new 0700 directory, leaving no temp file', async () => {
      await ok('--principal', 'alpha.api', '--out-dir', `${out}/nested`, '--join-token', 'jt');
      const dir = path.join(cwd, out, 'nested');
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      const modes = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (name) => [name, (await stat(path.join(dir, name))).mode & 0o777])));
      assert.deepEqual(modes, { 'ca.pem': 0o644, 'cert.pem': 0o644, 'chain.pem': 0o644, 'key.pem': 0o600 });
    });

    it('passes openssl verify: cert.pem against ca.pem with chain.pem as untrusted intermediates', async () => {
      await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt');
      const dir = path.join(cwd, out);
      const verified = execFileSync('openssl', ['verify', '-CAfile', 'ca.pem', '-untrusted', 'chain.pem', 'cert.pem'], { cwd: dir, encoding: 'utf8' });
      assert.equal(verified.trim(), 'cert.pem: OK');
    });

    const keyTypes = [
      { type: 'p384', check: (key: KeyObject) => key.asymmetricKeyDetails?.namedCurve === 'secp384r1', sig: 'ecdsa-with-SHA384' },
      { type: 'ed25519', check: (key: KeyObject) => key.asymmetricKeyType === 'ed25519', sig: 'ED25519' },
      { type: 'rsa2048', check: (key: KeyObject) => key.asymmetricKeyDetails?.modulusLength === 2048, sig: 'sha256WithRSAEncryption' },
    ];
    for (const { type, check, sig } of keyTypes) {
      it(`--key-type ${type} makes that key and signs the CSR with it (${sig})`, async () => {
        await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt', '--key-type', type);
        assert.equal(check(createPrivateKey(await file('key.pem'))), true);
        const csr = csrOf(ca.certificateRequests()[0]);
        assert.equal(await csr.verify(webcrypto), true);
        const text = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], {
          input: (ca.certificateRequests()[0]?.body as { csr: string }).csr,
          encoding: 'utf8',
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        assert.match(text, new RegExp(`Signature Algorithm: ${sig}`));
      });
    }

    it('--key K --kid ID: the CSR carries the registered key and the proof is a JWT it signed for the CA endpoint', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(path.join(cwd, 'registered.pem'), pkcs8(privateKey));
      await ok('--principal', 'alpha.worker', '--out-dir', out, '--key', 'registered.pem', '--kid', 'k1');
      const [request] = ca.certificateRequests();
      const proof = (request?.body as { proof: { type: string; value: string } }).proof;
      assert.equal(proof.type, 'key-assertion');
      assert.deepEqual(decodeProtectedHeader(proof.value), { alg: 'ES256', kid: 'k1' });
      const { payload } = await jwtVerify(proof.value, publicKey, {
        algorithms: ['ES256'],
        issuer: 'alpha.worker',
        subject: 'alpha.worker',
        audience: `${ca.url}/ca/v1/certificates`,
      });
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60);
      assert.match(payload.jti ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(Buffer.from(csrOf(request).publicKey.rawData).equals(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })), true);
      assert.equal(spki(createPrivateKey(await file('key.pem'))), spki(privateKey), 'key.pem is the registered key, so --renew works later');
    });

    it('--key without --kid uses that key for the CSR with another proof', async () => {
      const { privateKey } = generateKeyPairSync('ed25519');
      await writeFile(path.join(cwd, 'own.pem'), pkcs8(privateKey));
      await ok('--principal', 'alpha.api', '--out-dir', out, '--key', 'own.pem', '--join-token-file', 'join.token');
      const [request] = ca.certificateRequests();
      assert.deepEqual((request?.body as { proof: unknown }).proof, { type: 'join-token', value: 'jt_from_file' });
      assert.equal(Buffer.from(csrOf(request).publicKey.rawData).equals(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })), true);
    });

    it('--oidc-token-file sends the token in the file as an oidc-token proof', async () => {
      await writeFile(path.join(cwd, 'sa.token'), 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n');
      await ok('--principal', 'alpha.api', '--out-dir', out, '--oidc-token-file', 'sa.token');
      assert.deepEqual((ca.certificateRequests()[0]?.body as { proof: unknown }).proof, {
        type: 'oidc-token',
        value: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
      });
    });

    it('--json prints principal, serial, validity and the absolute paths', async () => {
      const result = await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt', '--json');
      const leaf = new X509Certificate(await file('cert.pem'));
      const dir = path.join(cwd, out);
      assert.deepEqual(JSON.parse(result.stdout), {
        principal: 'alpha.api',
        serial: leaf.serialNumber.toLowerCase(),
        notBefore: leaf.validFromDate.toISOString(),
        notAfter: leaf.validToDate.toISOString(),
        files: { key: `${dir}/key.pem`, certificate: `${dir}/cert.pem`, chain: `${dir}/chain.pem`, ca: `${dir}/ca.pem` },
      });
    });

    it('puts the bundle into ca.pem, adding a root of the chain the bundle lacks', async () => {
      const otherCa = await startFakeCa();
      try {
        ca.bundle = `${otherCa.root}\n`;
        await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt');
        assert.equal(await file('ca.pem'), `${otherCa.root.trim()}\n${ca.root.trim()}\n`);
      } finally {
        await otherCa.close();
      }
    });

    it('replaces the files of an earlier run and removes temp files a killed run left', async () => {
      await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt');
      const before = await file('cert.pem');
      await writeFile(path.join(cwd, out, '.cert.pem.0123456789ab.tmp'), '-----BEGIN CERT');
      await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt2');
      assert.notEqual(await file('cert.pem'), before);
      assert.deepEqual((await readdir(path.join(cwd, out))).sort(), ['ca.pem', 'cert.pem', 'chain.pem', 'key.pem']);
    });
  });

  describe('--renew', () => {
    beforeEach(async () => {
      await ok('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt');
      ca.requests.length = 0;
    });

    it('presents cert.pem over mTLS, sends no proof, keeps the key and writes a new certificate', async () => {
      const oldCert = await file('cert.pem');
      const oldKey = await file('key.pem');
      const keyInode = (await stat(path.join(cwd, out, 'key.pem'))).ino;
      const result = await ok('--renew', '--out-dir', out);
      const [request] = ca.certificateRequests();
      assert.deepEqual(request?.client, {
        cn: 'alpha.api',
        fingerprint256: new X509Certificate(oldCert).fingerprint256.replaceAll(':', '').toLowerCase(),
        authorized: true,
      });
      assert.deepEqual(Object.keys(request?.body as object), ['csr']);
      assert.equal(csrOf(request).subject, 'CN=alpha.api');
      assert.equal(await file('key.pem'), oldKey);
      assert.equal((await stat(path.join(cwd, out, 'key.pem'))).ino, keyInode, 'an unchanged key is not rewritten');
      const renewed = new X509Certificate(await file('cert.pem'));
      assert.notEqual(renewed.serialNumber, new X509Certificate(oldCert).serialNumber);
      assert.equal(renewed.checkPrivateKey(createPrivateKey(oldKey)), true);
      assert.match(result.stdout, /^renewed certificate for alpha\.api: serial [0-9a-f]+, valid until /);
    });

    it('--rotate-key makes a new key of the same type; --key-type picks another', async () => {
      const oldKey = await file('key.pem');
      await ok('--renew', '--rotate-key', '--out-dir', out);
      const rotated = createPrivateKey(await file('key.pem'));
      assert.notEqual(spki(rotated), spki(createPrivateKey(oldKey)));
      assert.equal(rotated.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(new X509Certificate(await file('cert.pem')).checkPrivateKey(rotated), true);
      assert.equal((await stat(path.join(cwd, out, 'key.pem'))).mode & 0o777, 0o600);

      await ok('--renew', '--rotate-key', '--key-type', 'ed25519', '--out-dir', out);
      assert.equal(createPrivateKey(await file('key.pem')).asymmetricKeyType, 'ed25519');
      assert.equal(ca.certificateRequests()[1]?.client?.cn, 'alpha.api', 'the rotated key was used to present the second renewal');
    });

    it('trusts the ca.pem of --out-dir when neither --cacert nor ./.tessera/ca.pem is there', async () => {
      const result = await runCli(['cert', '--server', ca.url, '--renew', '--out-dir', out], { cwd });
      assert.equal(result.code, 0, result.stderr);
    });

    it('refuses another --principal than the certificate names (exit 2)', async () => {
      const result = await cert('--renew', '--out-dir', out, '--principal', 'alpha.other');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `error: ${out}/cert.pem is for alpha.api, not alpha.other: renewal keeps the identity\n`);
      assert.equal(ca.requests.length, 0);
    });

    it('refuses an expired certificate before connecting (exit 1)', async () => {
      const notAfter = new X509Certificate(await file('cert.pem')).validToDate;
      const result = await runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', '--renew', '--out-dir', out], {
        cwd,
        now: () => notAfter.getTime() + 1000,
      });
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `error: ${out}/cert.pem expired at ${notAfter.toISOString()}; renewal needs an unexpired certificate: get a new one with --key/--kid, --join-token or --oidc-token-file\n`,
      );
      assert.equal(ca.requests.length, 0);
    });

    it('refuses a key.pem that does not belong to cert.pem (exit 2)', async () => {
      await writeFile(path.join(cwd, out, 'key.pem'), pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
      const result = await cert('--renew', '--out-dir', out);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `error: key file ${out}/key.pem is not the private key of the certificate in ${out}/cert.pem\n`);
    });

    it('says which file is missing when --out-dir holds no certificate (exit 2)', async () => {
      const result = await cert('--renew', '--out-dir', 'empty-dir');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: cannot read certificate file empty-dir/cert.pem: no such file\n');
    });

    it('shows the refusal of the server with exit 1 and keeps the old files', async () => {
      const before = await file('cert.pem');
      ca.scripted.push({ status: 403, body: { error: 'forbidden', message: 'certificate 4a3b is revoked' } });
      const result = await cert('--renew', '--out-dir', out);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: certificate request to ${ca.url}/ca/v1/certificates: HTTP 403 forbidden: certificate 4a3b is revoked\n`);
      assert.equal(await file('cert.pem'), before);
    });
  });

  describe('answers that are not written', () => {
    const first = (): Promise<CliResult> => cert('--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt');
    async function assertNothingWritten(): Promise<void> {
      const names = await readdir(path.join(cwd, out)).catch(() => []);
      assert.deepEqual(names, [], 'no file, not even a temp file');
    }

    it('a refusal: exit 1 with the error and message of the server', async () => {
      ca.scripted.push({ status: 401, body: { error: 'unauthorized', message: 'join token unknown, used or expired' } });
      const result = await first();
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `error: certificate request to ${ca.url}/ca/v1/certificates: HTTP 401 unauthorized: join token unknown, used or expired\n`);
      await assertNothingWritten();
    });

    it('a certificate for another key', async () => {
      const stranger = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const foreign = await x509.X509CertificateGenerator.createSelfSigned(
        { name: 'CN=alpha.api', keys: stranger, notAfter: new Date(Date.now() + 3_600_000), signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
        webcrypto,
      );
      ca.scripted.push({ status: 201, body: { certificate: foreign.toString('pem'), chain: ca.intermediate } });
      const result = await first();
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: certificate request to ${ca.url}/ca/v1/certificates: the certificate is not for the key of the CSR\n`);
      await assertNothingWritten();
    });

    it('a chain without the issuer of the leaf', async () => {
      const otherCa = await startFakeCa();
      try {
        ca.scripted.push(async (req) => {
          const signed = (await otherCa.sign(req.body)).body as { certificate: string };
          return { status: 201, body: { certificate: signed.certificate, chain: ca.intermediate } };
        });
        const result = await first();
        assert.equal(result.code, 1);
        assert.equal(result.stderr, `error: certificate request to ${ca.url}/ca/v1/certificates: the chain holds no certificate that issued the leaf\n`);
        await assertNothingWritten();
      } finally {
        await otherCa.close();
      }
    });

    it('an answer without certificate and chain', async () => {
      ca.scripted.push({ status: 201, body: { ok: true } });
      const result = await first();
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `error: certificate request to ${ca.url}/ca/v1/certificates: the answer lacks "certificate" or "chain" (is --server a Tessera server?)\n`,
      );
    });

    it('no trust bundle: exit 1 before the proof is sent', async () => {
      ca.bundle = 'not a certificate';
      const result = await first();
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: trust bundle request to ${ca.url}/ca/v1/bundle: the answer holds no PEM certificate\n`);
      assert.equal(ca.certificateRequests().length, 0);
    });

    it('a file that cannot be replaced: exit 1, and no temp file is left', async () => {
      await mkdir(path.join(cwd, out, 'chain.pem', 'in-the-way'), { recursive: true });
      const result = await first();
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: cannot write key\.pem, cert\.pem, chain\.pem, ca\.pem: /);
      assert.deepEqual(
        (await readdir(path.join(cwd, out))).filter((name) => name.endsWith('.tmp')),
        [],
      );
    });

    it('an unreachable server: exit 1', async () => {
      const result = await runCli(['cert', '--server', 'https://127.0.0.1:1', '--principal', 'alpha.api', '--out-dir', out, '--join-token', 'jt'], { cwd });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: cannot reach https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    });
  });

  describe('usage errors (exit 2, one line, nothing sent)', () => {
    before(async () => {
      await writeFile(path.join(cwd, 'p521.pem'), pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey));
      await writeFile(path.join(cwd, 'rsa1024.pem'), pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey));
      await writeFile(path.join(cwd, 'p256.pem'), pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
      await writeFile(path.join(cwd, 'a-file'), 'x');
      await writeFile(path.join(cwd, 'empty.token'), '\n');
      await writeFile(path.join(cwd, 'opaque.token'), 'not-a-jwt');
    });
    const base = ['--principal', 'alpha.api', '--out-dir', 'usage-out'];
    const cases: [string, string[], RegExp][] = [
      ['no proof', [...base], /^error: no proof: pass --key K --kid ID, --join-token T, --join-token-file F, --oidc-token-file F or --renew$/],
      [
        'two proofs',
        [...base, '--join-token', 't', '--oidc-token-file', 'x'],
        /^error: --join-token and --oidc-token-file are two proofs; pass exactly one of /,
      ],
      ['--renew and a proof', [...base, '--renew', '--key', 'p256.pem', '--kid', 'k1'], /^error: --key\/--kid and --renew are two proofs/],
      ['--kid without --key', [...base, '--kid', 'k1'], /^error: --kid needs --key, the private key registered under that id$/],
      [
        'no --principal',
        ['--out-dir', 'o', '--join-token', 't'],
        /^error: --principal is required: the service the certificate is for, e\.g\. --principal alpha\.api$/,
      ],
      ['no --out-dir', ['--principal', 'alpha.api', '--join-token', 't'], /required option '--out-dir <dir>' not specified/],
      [
        'a principal without a dot',
        ['--principal', 'alpha', '--out-dir', 'o', '--join-token', 't'],
        /option '--principal <d\.s>' argument 'alpha' is invalid\. expected <domain>\.<service>/,
      ],
      [
        '--renew with --key',
        ['--out-dir', 'o', '--renew', '--key', 'p256.pem'],
        /^error: --renew uses key\.pem in --out-dir; drop --key \(add --rotate-key for a new key\)$/,
      ],
      [
        '--rotate-key without --renew or --watch',
        [...base, '--join-token', 't', '--rotate-key'],
        /^error: --rotate-key is for renewals: add --renew or --watch$/,
      ],
      [
        '--key-type with --key',
        [...base, '--join-token', 't', '--key', 'p256.pem', '--key-type', 'p384'],
        /^error: --key-type is for a new key, but --key p256\.pem is used; drop one of them$/,
      ],
      [
        '--key-type with --renew',
        ['--out-dir', 'o', '--renew', '--key-type', 'p384'],
        /^error: --key-type is for a new key, but --renew keeps the current one; add --rotate-key$/,
      ],
      [
        'an unknown --key-type',
        [...base, '--join-token', 't', '--key-type', 'p521'],
        /argument 'p521' is invalid\. Allowed choices are p256, p384, ed25519, rsa2048/,
      ],
      [
        'a P-521 --key',
        [...base, '--join-token', 't', '--key', 'p521.pem'],
        /^error: key file p521\.pem holds a secp521r1 key; certificates need a P-256, P-384, Ed25519 or RSA \(2048 bits or more\) key$/,
      ],
      [
        'a 1024-bit RSA --key',
        [...base, '--join-token', 't', '--key', 'rsa1024.pem'],
        /^error: key file rsa1024\.pem holds a 1024-bit RSA key; certificates need/,
      ],
      ['a missing --key', [...base, '--key', 'nope.pem', '--kid', 'k1'], /^error: cannot read key file nope\.pem: no such file$/],
      ['an empty --join-token', [...base, '--join-token', ' '], /^error: --join-token is empty; pass the token from POST \/admin\/v1\/join-tokens$/],
      [
        'an empty join token file',
        [...base, '--join-token-file', 'empty.token'],
        /^error: --join-token-file is empty; pass the token from POST \/admin\/v1\/join-tokens$/,
      ],
      ['a missing OIDC token file', [...base, '--oidc-token-file', 'nope.token'], /^error: cannot read OIDC token file nope\.token: no such file$/],
      ['an OIDC token file without a JWT', [...base, '--oidc-token-file', 'opaque.token'], /^error: OIDC token file opaque\.token does not hold a JWT/],
      ['an --out-dir that is a file', ['--principal', 'alpha.api', '--out-dir', 'a-file', '--join-token', 't'], /^error: --out-dir a-file is not a directory$/],
    ];
    for (const [what, argv, message] of cases) {
      it(`with ${what}`, async () => {
        const result = await cert(...argv);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr.trimEnd(), message);
        assert.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line');
        assert.equal(ca.requests.length, 0);
      });
    }

    it('with --renew or --watch against a plain-HTTP server', async () => {
      for (const flag of ['--renew', '--watch']) {
        const argv = flag === '--renew' ? ['--renew'] : ['--principal', 'alpha.api', '--join-token', 't', '--watch'];
        const result = await runCli(['cert', '--server', 'http://127.0.0.1:1', '--out-dir', 'o', ...argv], { cwd });
        assert.equal(result.code, 2);
        assert.equal(result.stderr, `error: ${flag} needs an https:// server: renewal presents the current certificate in the TLS handshake\n`);
      }
    });
  });
});

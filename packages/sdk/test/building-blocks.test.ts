// The SDK's public building blocks, which the `tessera` CLI uses instead of copies of its own:
// the key table (the keys Tessera registers and certifies), the client assertion, HTTP Basic
// client authentication, the check of a CA answer and the atomic replacement of outDir's files.

import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import {
  CERTIFICATE_FILES,
  type CertificateRefresherError,
  KEY_MODE,
  CERTIFICATE_MODE,
  assertionAlgorithm,
  basicAuthorization,
  checkIssuedCertificate,
  keyTypeOf,
  replaceCertificateFiles,
  scopeItemRole,
  signClientAssertion,
} from '../src/index.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';

describe('key types', () => {
  it('takes the keys the server registers and picks their JWS algorithm', () => {
    const cases: [KeyObject, string, string][] = [
      [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'p256', 'ES256'],
      [generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'p384', 'ES384'],
      [generateKeyPairSync('ed25519').privateKey, 'ed25519', 'EdDSA'],
      [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'rsa2048', 'RS256'],
    ];
    for (const [privateKey, type, alg] of cases) {
      assert.equal(keyTypeOf(privateKey), type);
      assert.equal(assertionAlgorithm(keyTypeOf(privateKey)!), alg);
    }
  });

  it('refuses P-521 and RSA under 2048 bits, as the server refuses to register them', () => {
    assert.equal(keyTypeOf(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey), undefined);
    assert.equal(keyTypeOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), undefined);
    assert.equal(keyTypeOf(generateKeyPairSync('x25519').privateKey), undefined);
  });
});

describe('signClientAssertion', () => {
  it('signs iss = sub = the client, aud, a 60 s lifetime and a fresh jti, with the given alg and kid', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = Date.parse('2030-01-01T00:00:00Z');
    const claims = { clientId: 'alpha.api', kid: 'k1', audience: 'https://tessera.test/oauth2/token', alg: 'ES256', now };
    const [first, second] = [await signClientAssertion(privateKey, claims), await signClientAssertion(privateKey, claims)];
    assert.deepEqual(decodeProtectedHeader(first), { alg: 'ES256', kid: 'k1' });
    const { payload } = await jwtVerify(first, publicKey, { issuer: 'alpha.api', subject: 'alpha.api', audience: claims.audience, currentDate: new Date(now) });
    assert.equal(payload.iat, now / 1000);
    assert.equal(payload.exp, now / 1000 + 60);
    const { payload: other } = await jwtVerify(second, publicKey, { currentDate: new Date(now) });
    assert.notEqual(payload.jti, other.jti);
  });
});

describe('basicAuthorization', () => {
  it('form-urlencodes both halves (RFC 6749 §2.3.1), the characters encodeURIComponent keeps included', () => {
    const header = basicAuthorization('svc:odd id', "p@ss word/+!'()~*");
    const decoded = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString();
    assert.equal(decoded, 'svc%3Aodd+id:p%40ss+word%2F%2B%21%27%28%29%7E*');
  });
});

describe('scopeItemRole', () => {
  it('reads <d>:role.<r> and the short <d>:<r> as a role, and nothing else', () => {
    assert.deepEqual(scopeItemRole('beta:role.readers'), { domain: 'beta', role: 'readers' });
    assert.deepEqual(scopeItemRole('beta:readers'), { domain: 'beta', role: 'readers' });
    for (const item of ['beta:domain', 'beta:service.api', 'openid', ':readers', 'beta:', 'beta:role.']) {
      assert.equal(scopeItemRole(item), null, item);
    }
  });
});

describe('checkIssuedCertificate', () => {
  let pki: TestPki;
  let issued: { cert: string; key: string };
  before(() => {
    pki = createTestPki();
    issued = pki.client('alpha.api');
  });
  after(() => pki.dispose());
  const now = Date.now();

  it('lays a good answer out as cert.pem, chain.pem and ca.pem', () => {
    const checked = checkIssuedCertificate({ certificate: issued.cert, chain: pki.ca.cert }, pki.ca.cert, createPrivateKey(issued.key), now, 'alpha.api');
    assert.ok(!('problem' in checked));
    assert.equal(checked.leaf.subject, 'CN=alpha.api');
    assert.equal(checked.certificate, `${issued.cert.trim()}\n`, 'a self-signed root is not an intermediate');
    assert.equal(checked.chain, `${pki.ca.cert.trim()}\n`);
    assert.equal(checked.ca, `${pki.ca.cert.trim()}\n`);
  });

  it('adds the root of the chain to ca.pem when the bundle lacks it', () => {
    const other = createTestPki();
    try {
      const checked = checkIssuedCertificate({ certificate: issued.cert, chain: pki.ca.cert }, other.ca.cert, createPrivateKey(issued.key), now);
      assert.ok(!('problem' in checked));
      assert.equal(checked.ca, `${other.ca.cert.trim()}\n${pki.ca.cert.trim()}\n`);
    } finally {
      other.dispose();
    }
  });

  it('says what is wrong with an answer that cannot be used', () => {
    const key = createPrivateKey(issued.key);
    const cases: [string, { certificate: string; chain: string }, number, string | undefined, string][] = [
      ['no certificate', { certificate: 'nope', chain: pki.ca.cert }, now, undefined, '"certificate" holds no PEM certificate'],
      [
        'a broken chain',
        { certificate: issued.cert, chain: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
        now,
        undefined,
        '"chain" holds a certificate that does not parse',
      ],
      ['another key', { certificate: pki.client('alpha.api').cert, chain: pki.ca.cert }, now, undefined, 'the certificate is not for the key of the CSR'],
      [
        'a chain without the issuer',
        { certificate: issued.cert, chain: pki.server.cert },
        now,
        undefined,
        'the chain holds no certificate that issued the leaf',
      ],
      ['another principal', { certificate: issued.cert, chain: pki.ca.cert }, now, 'beta.api', 'the certificate is for alpha.api, not beta.api'],
    ];
    for (const [name, answer, at, principal, problem] of cases) {
      assert.deepEqual(checkIssuedCertificate(answer, pki.ca.cert, key, at, principal), { problem }, name);
    }
    const expired = checkIssuedCertificate({ certificate: issued.cert, chain: pki.ca.cert }, pki.ca.cert, key, now + 3 * 86_400_000);
    assert.match((expired as { problem: string }).problem, /^the certificate expired at \d{4}-/);
  });
});

describe('replaceCertificateFiles', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-sdk-files-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('replaces every file with its mode and leaves no temp file', async () => {
    await writeFile(join(dir, CERTIFICATE_FILES.certificate), 'old');
    await replaceCertificateFiles(dir, [
      { name: CERTIFICATE_FILES.key, content: 'KEY', mode: KEY_MODE },
      { name: CERTIFICATE_FILES.certificate, content: 'CERT', mode: CERTIFICATE_MODE },
    ]);
    assert.equal(await readFile(join(dir, 'key.pem'), 'utf8'), 'KEY');
    assert.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'CERT');
    assert.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).sort(), ['cert.pem', 'key.pem']);
  });

  it('leaves the old files as they were when one cannot be written, and says which', async () => {
    await assert.rejects(
      replaceCertificateFiles(dir, [
        { name: CERTIFICATE_FILES.certificate, content: 'NEW', mode: CERTIFICATE_MODE },
        { name: 'missing/ca.pem', content: 'CA', mode: CERTIFICATE_MODE },
      ]),
      (error: CertificateRefresherError) => {
        assert.equal(error.code, 'ERR_FILES');
        assert.match(error.message, /^cannot write cert\.pem, missing\/ca\.pem: .*ENOENT.* \(in .*tessera-sdk-files-/);
        return true;
      },
    );
    assert.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'CERT');
    assert.deepEqual((await readdir(dir)).sort(), ['cert.pem', 'key.pem']);
  });
});

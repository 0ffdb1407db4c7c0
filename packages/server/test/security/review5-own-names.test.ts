// Review 5 (outside attacker): Tessera's own names vs ca.dnsSuffix after the fix. The attacker is a
// domain admin (or holds a service) whose service's certificate, for <service>.<domain>.<dnsSuffix>,
// would let it answer as Tessera. Each test FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { startTestServer, tokenRequest, type TestServer } from '@tessera/testkit/server';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';
import { csr, newKeys, publicKeyPem } from '../e2e/mtls-support.ts';

const refused = (flags: Record<string, string>, env: Record<string, string> = {}): boolean => {
  try {
    loadConfig({ flags: { dataDir: '/tmp/tessera-review5-own-names', ...flags }, env, cwd: '/tmp' });
    return false;
  } catch {
    return true;
  }
};

describe('review5: own names spelled with a trailing dot', () => {
  let t: TestServer | undefined;
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    await t?.stop();
    for (const step of cleanup) await step();
  });

  it('config refuses an issuer host inside ca.dnsSuffix written as an absolute name (trailing dot)', () => {
    assert.ok(refused({ issuer: 'https://api.alpha.svc.tessera.local:8443' }), 'precondition: the plain spelling is refused');
    assert.ok(
      refused({ issuer: 'https://api.alpha.svc.tessera.local.:8443' }),
      'an issuer host api.alpha.svc.tessera.local. (trailing dot) is inside svc.tessera.local, and was accepted',
    );
  });

  it('config refuses a tls.names entry inside ca.dnsSuffix with a trailing dot', () => {
    assert.ok(refused({}, { TESSERA_TLS_NAMES: 'api.alpha.svc.tessera.local.' }), 'tls.names api.alpha.svc.tessera.local. was accepted');
  });

  it('the CA does not give alpha.api a certificate that clients dialing the trailing-dot issuer accept as Tessera', async () => {
    const host = 'api.alpha.svc.tessera.local.';
    let operatorPem = '';
    try {
      // The operator serves a certificate of their own for Tessera's host (--tls-cert): the
      // self-issued one cannot carry a trailing-dot name.
      const dir = await mkdtemp(join(tmpdir(), 'tessera-review5-names-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=api.alpha.svc.tessera.local',
          '-addext',
          'subjectAltName=DNS:api.alpha.svc.tessera.local,IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      operatorPem = await readFile(join(dir, 'cert.pem'), 'utf8');
      t = await startTestServer({ flags: { issuer: `https://${host}:8443`, tlsCert: join(dir, 'cert.pem'), tlsKey: join(dir, 'key.pem') } });
    } catch (error) {
      // Refused at start: the hole is closed at config time.
      assert.match(String(error), /dnsSuffix|inside/);
      return;
    }
    const server = t;
    const call = (path: string, options: TestRequest = {}): Promise<TestResponse> => send(`${server.url}${path}`, { ca: operatorPem, ...options });
    const token = await call(
      '/oauth2/token',
      tokenRequest(server.admin.clientId, server.admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' }),
    );
    assert.equal(token.status, 200, token.text);
    const admin = (method: string, path: string, body: unknown): Promise<TestResponse> =>
      call(`/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token.json.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await admin('POST', '/domains', { name: 'alpha' })).status, 201);
    assert.equal((await admin('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    // alpha's admin (here the system admin) registers a key on alpha.api and asks the CA.
    const keys = await newKeys();
    assert.ok([200, 201, 204].includes((await admin('PUT', '/domains/alpha/services/api/keys/k1', { pem: await publicKeyPem(keys) })).status));
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('alpha.api')
      .setSubject('alpha.api')
      .setAudience(`https://${host}:8443/ca/v1/certificates`)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(keys.privateKey);
    const issued = await call('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csr(keys, 'alpha.api'), proof: { type: 'key-assertion', value: assertion } }),
    });
    if (issued.status !== 201) {
      assert.match(issued.text, /Tessera's own host names/);
      return;
    }
    const pem = issued.json.certificate as string;
    const leaf = new X509Certificate(pem);
    // What a TLS client dialing the issuer's host checks (Node drops the root dot before matching).
    const mismatch = checkServerIdentity(host, { subject: {}, subjectaltname: leaf.subjectAltName ?? '' } as never);
    assert.notEqual(mismatch, undefined, `alpha.api got a certificate (${leaf.subjectAltName}) that a client of the issuer ${host} accepts as Tessera's own`);
  });
});

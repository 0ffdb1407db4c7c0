// Review 5 (outside attacker): recover-admin after an intruder held sys.auth.admin. The fix removes
// its keys, revokes its API keys and ends its tokens; these tests look for what else the intruder
// could have made on sys.auth.admin and keeps. Each FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recoverAdmin } from '../../src/admin/recover.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { csr, newKeys, postForm, type ClientCertificate } from '../e2e/mtls-support.ts';
import { exportPkcs8Pem, x509 } from '../../src/ca/x509.ts';
import { createHash } from 'node:crypto';

const ADMIN_TOKEN = { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' };

async function enrollWithJoinToken(t: TestServer, token: string): Promise<{ status: number; text: string; cert?: ClientCertificate }> {
  const keys = await newKeys();
  const res = await t.send('/ca/v1/certificates', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ csr: await csr(keys, 'sys.auth.admin'), proof: { type: 'join-token', value: token } }),
  });
  if (res.status !== 201) return { status: res.status, text: res.text };
  const pem = res.json.certificate as string;
  const leaf = new x509.X509Certificate(pem);
  const der = Buffer.from(leaf.rawData);
  return {
    status: res.status,
    text: res.text,
    cert: {
      certPem: pem,
      keyPem: await exportPkcs8Pem(keys.privateKey),
      thumbprint: createHash('sha256').update(der).digest('base64url'),
      fingerprintHex: createHash('sha256').update(der).digest('hex'),
      serial: leaf.serialNumber,
    },
  };
}

describe('review5: what an intruder made on sys.auth.admin after recover-admin', () => {
  let t: TestServer;
  let certificate: ClientCertificate | undefined;
  let spareJoinToken: string;
  before(async () => {
    t = await startTestServer();
    // The intruder, holding the leaked bootstrap secret, makes two join tokens for the admin service
    // and spends one on a certificate for it (private key theirs).
    const first = await t.admin$('POST', '/join-tokens', { principal: 'sys.auth.admin' });
    const second = await t.admin$('POST', '/join-tokens', { principal: 'sys.auth.admin' });
    assert.equal(first.status, 201, first.text);
    assert.equal(second.status, 201, second.text);
    spareJoinToken = second.json.token as string;
    const enrolled = await enrollWithJoinToken(t, first.json.token as string);
    assert.equal(enrolled.status, 201, enrolled.text);
    certificate = enrolled.cert!;
    const before = await postForm(t, { ...ADMIN_TOKEN, client_id: 'sys.auth.admin' }, { client: certificate });
    assert.equal(before.status, 200, `precondition: the certificate gets an admin token over tls_client_auth: ${before.text}`);

    // The operator recovers, beside the running server.
    const config = loadConfig({ flags: { dataDir: t.dataDir }, env: {}, cwd: t.dataDir });
    await recoverAdmin(config, { force: true });
    // Past the key-removal reach and the feed.
    await new Promise((resolve) => setTimeout(resolve, 3500));
  });
  after(() => t.stop());

  it('a certificate the intruder got for sys.auth.admin with a join token no longer gets an admin token', async () => {
    const res = await postForm(t, { ...ADMIN_TOKEN, client_id: 'sys.auth.admin' }, { client: certificate! });
    assert.notEqual(
      res.status,
      200,
      `after recover-admin the intruder's join-token certificate for sys.auth.admin still gets sys.auth:role.admin: ${res.text.slice(0, 100)}`,
    );
  });

  it('a join token the intruder made for sys.auth.admin and kept no longer buys a certificate', async () => {
    const res = await enrollWithJoinToken(t, spareJoinToken);
    assert.notEqual(res.status, 201, 'after recover-admin an unspent join token for sys.auth.admin still buys an admin certificate');
  });
});

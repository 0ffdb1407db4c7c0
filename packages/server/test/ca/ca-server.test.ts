// The CA inside a running server (real HTTPS, real storage): the trust domain from the config,
// `<dataDir>/ca.pem` and `GET /ca/v1/bundle` following rotation, the admin routes
// `POST /admin/v1/ca/rotate` and `GET /admin/v1/ca/generations`, and an imported CA.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer } from '@tessera/testkit/server';
import type { TestServer } from '@tessera/testkit/server';
import { makeCsr } from './csr-fixtures.ts';
import { opensslVerify, tempDir } from './helpers.ts';
import { importFiles, makeCa, operatorPki, pkcs8Pem } from './operator-pki.ts';

const DAY = 86_400_000;

/** The self-signed certificates in a bundle; next to each is its generation's issuing CA. */
function roots(bundlePem: string): number {
  const certificates = (bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
  assert.equal(certificates.length % 2, 0, 'each root comes with its issuing CA');
  return certificates.filter((certificate) => certificate.checkIssued(certificate)).length;
}

void describe('the CA in a running server', () => {
  let t: TestServer;
  let clock = Date.now();
  before(async () => {
    t = await startTestServer({
      now: () => clock,
      edit: (config) => {
        config.ca.trustDomain = 'corp.test';
        config.ca.dnsSuffix = 'svc.corp.test';
      },
    });
  });
  after(() => t.stop());

  void test('uses the configured trust domain and records every service certificate in the store', async (t2) => {
    const root = new X509Certificate(t.ca);
    assert.equal(root.subjectAltName, 'URI:spiffe://corp.test');
    const issued = await t.server.ca.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'alpha.api', now: clock });
    assert.equal(new X509Certificate(issued.certificatePem).subjectAltName, 'URI:spiffe://corp.test/alpha/api, DNS:api.alpha.svc.corp.test');
    const record = await t.server.store.getCertificate(issued.serial);
    assert.equal(record?.principal, 'alpha.api');
    assert.equal(record?.thumbprint, issued.thumbprint);
    assert.equal(record?.caId, t.server.ca.id);
    const verified = await opensslVerify(await tempDir(t2), {
      bundlePem: t.ca,
      chainPem: issued.chainPem,
      leafPem: issued.certificatePem,
      purpose: 'sslclient',
      at: clock,
    });
    assert.ok(verified.ok, verified.output);
  });

  void test('POST /admin/v1/ca/rotate adds the new root to ca.pem and /ca/v1/bundle at once; the new CA signs after the window', async () => {
    const rotate = await t.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    assert.equal(rotate.json.created, true);
    const activatesAt = Date.parse(rotate.json.activatesAt);
    assert.equal(activatesAt - clock, t.server.config.ca.prePublication * 1000);

    const file = await readFile(join(t.dataDir, 'ca.pem'), 'utf8');
    assert.equal(roots(file), 2);
    assert.equal(file, t.server.ca.bundlePem);
    const bundle = await t.send('/ca/v1/bundle');
    assert.equal(bundle.status, 200);
    assert.equal(bundle.text, file);

    const again = await t.admin$('POST', '/ca/rotate');
    assert.deepEqual(again.json, { ...rotate.json, created: false });

    const generations = await t.admin$('GET', '/ca/generations');
    assert.equal(generations.status, 200);
    assert.deepEqual(
      generations.json.generations.map((g: { state: string }) => g.state),
      ['prepared', 'active'],
    );
    assert.equal(generations.json.generations[0].id, rotate.json.id);
    assert.equal(generations.json.generations[0].activatesAt, rotate.json.activatesAt);

    clock = activatesAt;
    await t.server.ca.refresh();
    const after = (await t.admin$('GET', '/ca/generations')).json.generations as { id: string; state: string; removeAt: string | null }[];
    assert.deepEqual(
      after.map((g) => g.state),
      ['active', 'old'],
    );
    assert.ok(after[1]?.removeAt !== null && Date.parse(after[1]?.removeAt ?? '') > clock);
    assert.equal(t.server.ca.id, rotate.json.id);

    const audit = (await t.admin$('GET', '/audit?type=ca.rotate')).json.events as { actor: string; target: string }[];
    assert.deepEqual(
      audit.map((event) => [event.actor, event.target]),
      [
        ['sys.auth.admin', rotate.json.id],
        ['sys.auth.admin', rotate.json.id],
      ],
    );
  });

  void test('the CA routes need a system admin: 401 without a token, 403 for a domain admin', async () => {
    const anonymous = await t.send('/admin/v1/ca/rotate', { method: 'POST' });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json.error, 'invalid_token');
    assert.match(anonymous.json.message, /send "Authorization: Bearer <access token>"/);

    await t.admin$('POST', '/domains', { name: 'alpha' });
    const secret = (await t.admin$('POST', '/domains/alpha/services', { name: 'owner' })).json.clientSecret as string;
    await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.owner' }] });
    const token = (await t.token('alpha.owner', secret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' })).json.access_token as string;
    for (const [method, path] of [
      ['POST', '/ca/rotate'],
      ['GET', '/ca/generations'],
    ] as const) {
      const res = await t.admin$(method, path, undefined, token);
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.error, 'forbidden');
      assert.ok(typeof res.json.message === 'string' && res.json.message.length > 0);
    }
  });
});

void describe('an imported CA in a running server', () => {
  void test('serves TLS from the operator’s CA, writes its issuing CA and root to ca.pem, and refuses a forced rotation with 409', async (t) => {
    const { root, issuing, files } = await operatorPki(await tempDir(t));
    const server = await startTestServer({ edit: (config) => (config.ca.import = files) });
    t.after(() => server.stop());
    assert.equal(server.ca, issuing.pem + root.pem, 'ca.pem is the imported issuing CA, then the operator root');
    assert.equal(await readFile(join(server.dataDir, 'ca.pem'), 'utf8'), server.ca);
    assert.equal((await server.send('/healthz')).status, 200);
    assert.equal((await server.send('/healthz', { ca: root.pem })).status, 200, 'a client that trusts the root alone (curl) still connects');

    const rotate = await server.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 409);
    assert.equal(rotate.json.error, 'conflict');
    assert.match(rotate.json.message, /the CA is imported \(ca\.import\), so Tessera holds no key to make its successor/);
  });

  void test('a key that does not match the issuing certificate stops the start with a sentence naming the files', async (t) => {
    const dir = await tempDir(t);
    const { issuing, root } = await operatorPki(dir);
    const files = await importFiles(dir, await pkcs8Pem((await makeCa('Other', null)).keys), issuing.pem + root.pem);
    await assert.rejects(startTestServer({ edit: (config) => (config.ca.import = files) }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CA_IMPORT_INVALID');
      assert.match(error.message, /operator-ca\.key: the key does not match the first certificate of .*operator-chain\.pem/);
      return true;
    });
  });
});

void describe('old CA generations in a running server', () => {
  void test('an old CA stays in the bundle of a running server until its certificates have expired', async (t) => {
    let clock = Date.now();
    const server = await startTestServer({ now: () => clock });
    t.after(() => server.stop());
    const old = await server.server.ca.issueServiceCertificate({
      csrPem: (await makeCsr()).pem,
      principal: 'alpha.api',
      now: clock,
      lifetimeSeconds: 7 * 86_400,
    });
    const rotation = await server.server.ca.rotate({ actor: 'test' });
    clock = rotation.activatesAt + 5 * DAY;
    await server.server.ca.refresh();
    const dir = await tempDir(t);
    const stillTrusted = await opensslVerify(dir, {
      bundlePem: server.server.ca.bundlePem,
      chainPem: old.chainPem,
      leafPem: old.certificatePem,
      purpose: 'sslclient',
      at: clock,
    });
    assert.ok(stillTrusted.ok, stillTrusted.output);
    const removeAt = server.server.ca.generations().find((generation) => generation.state === 'old')?.removeAt ?? 0;
    clock = removeAt;
    await server.server.ca.refresh();
    assert.equal(roots(await readFile(join(server.dataDir, 'ca.pem'), 'utf8')), 1, 'ca.pem follows the removal');
  });
});

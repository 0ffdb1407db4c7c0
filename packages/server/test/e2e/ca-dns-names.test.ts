// The DNS name in a service certificate, `<service>.<domain with dots as dashes>.<dns suffix>`,
// must belong to one service only: domains `pay.prod` and `pay-prod` would both give service
// `api` the name `api.pay-prod.<suffix>`, and one domain's admin could then get a serverAuth
// certificate for the other's host. A domain whose label another already has is refused; one
// that shares it from before that rule (an upgraded database) gets certificates without it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, opensslVerify, parseCertificate, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { buildGoVerifier } from '../ca/go-verify.ts';
import { tempDir } from '../ca/helpers.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { x509 } from '../../src/ca/x509.ts';

const SUFFIX = 'svc.tessera.local';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

function dnsNamesOf(pem: string): string[] {
  const san = parseCertificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  return san?.names.items.filter((name) => name.type === 'dns').map((name) => name.value) ?? [];
}

describe('certificate DNS names are never shared by two domains', () => {
  let t: TestServer;
  let key: ServiceKey;

  const certificateFor = async (principal: string, dnsName?: string): Promise<TestResponse> => {
    const token = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(token.status, 201, token.text);
    const csr = await csrFor(key, dnsName === undefined ? {} : { dnsNames: [dnsName] });
    return t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr, proof: { type: 'join-token', value: token.json.token } }),
    });
  };

  const bundleOf = (): Promise<TestResponse> => t.send('/ca/v1/bundle');

  before(async () => {
    key = await serviceKey('ec');
    t = await startTestServer();
    for (const name of ['pay.prod', 'pay-qa']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    // An older database may already hold two such domains: written as they were before the rule.
    const db = new DatabaseSync(join(t.dataDir, 'tessera.db'));
    try {
      const now = Date.now();
      db.prepare('INSERT INTO domains (name, description, token_max_lifetime, created_at, updated_at) VALUES (?, NULL, NULL, ?, ?)').run('pay-prod', now, now);
    } finally {
      db.close();
    }
    for (const domain of ['pay.prod', 'pay-prod', 'pay-qa']) {
      assert.equal((await t.admin$('POST', `/domains/${domain}/services`, { name: 'api' })).status, 201);
    }
  });
  after(() => t.stop());

  it('refuses a domain whose dashes stand where another domain has dots (409)', async () => {
    const res = await t.admin$('POST', '/domains', { name: 'pay.qa' });
    assertError(res, 409, 'conflict', /pay\.qa would share the DNS label "pay-qa" .* with domain pay-qa/);
    assert.equal((await t.admin$('GET', '/domains/pay.qa')).status, 404);
  });

  it('refuses a domain whose dots stand where another domain has dashes (409)', async () => {
    const res = await t.admin$('POST', '/domains', { name: 'pay-prod-eu' });
    assert.equal(res.status, 201, res.text);
    assertError(await t.admin$('POST', '/domains', { name: 'pay.prod.eu' }), 409, 'conflict', /with domain pay-prod-eu/);
    assertError(await t.admin$('POST', '/domains', { name: 'pay-prod.eu' }), 409, 'conflict', /with domain pay-prod-eu/);
  });

  it('still gives a domain its own DNS name', async () => {
    const res = await certificateFor('pay.prod.api');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(dnsNamesOf(res.json.certificate), [`api.pay-prod.${SUFFIX}`]);
  });

  it('leaves the DNS name out of certificates for the younger of two domains that already share it', async () => {
    const res = await certificateFor('pay-prod.api');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(dnsNamesOf(res.json.certificate), []);
    assert.equal(parseCertificate(res.json.certificate).subject, 'CN=pay-prod.api');
  });

  it('makes that certificate one Go and OpenSSL accept for client use and Go refuses for the shared host', async (t) => {
    const res = await certificateFor('pay-prod.api');
    assert.equal(res.status, 201, res.text);
    const bundle = (await bundleOf()).text;
    assert.match(await opensslVerify(bundle, res.json.chain, res.json.certificate, 'sslclient'), /: OK/);
    const go = await buildGoVerifier(t);
    if (go === null) return;
    const dnsName = `api.pay-prod.${SUFFIX}`;
    const input = { bundlePem: bundle, intermediatesPem: res.json.chain, leafPem: res.json.certificate, at: Date.now(), dnsName };
    const result = await go(await tempDir(t), input);
    assert.equal(result.parseError, undefined);
    assert.equal(result.clientAuth, 'ok');
    assert.match(result.serverAuth, /certificate is not valid for any names, but wanted to match api\.pay-prod/);
  });

  it('refuses a CSR of the younger domain that asks for the shared DNS name (400)', async () => {
    const res = await certificateFor('pay-prod.api', `api.pay-prod.${SUFFIX}`);
    assertError(res, 400, 'invalid_request', /DNS:api\.pay-prod\.svc\.tessera\.local, but that name belongs to domain pay\.prod/);
  });
});

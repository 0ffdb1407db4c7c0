// Renewal over mutual TLS (POST /ca/v1/certificates without a proof): a service
// presents its current Tessera certificate as the TLS client certificate and gets a new one for
// the same identity. Expired, revoked, foreign and disabled are refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import {
  csrFor,
  externalCaWithLeaf,
  parseCertificate,
  scratchDir,
  selfSignedCertificate,
  sendMtls,
  serviceKey,
  type ServiceKey,
} from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

interface Held {
  key: ServiceKey;
  certificate: string;
  chain: string;
  serial: string;
}

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('certificate renewal over mutual TLS', () => {
  let t: TestServer;
  let offset = 0;
  let external: { key: ServiceKey; caPem: string; leafPem: string };
  let scratch: Awaited<ReturnType<typeof scratchDir>>;

  /** A first certificate for `principal`, bootstrapped with a join token. */
  const bootstrap = async (principal: string): Promise<Held> => {
    const token = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(token.status, 201, token.text);
    const key = await serviceKey('ec');
    const res = await t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(key), proof: { type: 'join-token', value: token.json.token } }),
    });
    assert.equal(res.status, 201, res.text);
    return { key, certificate: res.json.certificate, chain: res.json.chain, serial: res.json.serial };
  };
  /** POST /ca/v1/certificates without a proof, presenting `held` over TLS, for a CSR of `newKey`. */
  const renew = async (held: Pick<Held, 'key' | 'certificate'> | null, newKey: ServiceKey, subject?: string) =>
    sendMtls(`${t.url}/ca/v1/certificates`, {
      ca: t.ca,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(newKey, subject === undefined ? {} : { subject }) }),
      ...(held && { cert: held.certificate, key: held.key.privatePem }),
    });

  before(async () => {
    // An external CA trusted for tls_client_auth: its certificates pass the TLS layer, but they
    // are not Tessera's to renew.
    const key = await serviceKey('ec');
    external = { key, ...(await externalCaWithLeaf(key, 'alpha.api')) };
    scratch = await scratchDir();
    const externalCaFile = await scratch.file('external-ca.pem', external.caPem);
    t = await startTestServer({ now: () => Date.now() + offset, edit: (config) => void (config.mtls.externalCas = [externalCaFile]) });
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['api', 'worker', 'revoked', 'expiring', 'off']) {
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    }
  });
  after(async () => {
    await t.stop();
    await scratch.remove();
  });

  it('issues a new certificate with the same identity, for a new key, and the new one renews again', async () => {
    const held = await bootstrap('alpha.api');
    const nextKey = await serviceKey('ec');
    const res = await renew(held, nextKey);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.api');
    assert.notEqual(res.json.serial, held.serial);
    const before = parseCertificate(held.certificate);
    const after = parseCertificate(res.json.certificate);
    assert.equal(after.subject, before.subject);
    const san = (certificate: typeof before): Buffer => Buffer.from(certificate.getExtension('2.5.29.17')?.rawData ?? new ArrayBuffer(0));
    assert.ok(san(after).length > 0);
    assert.deepEqual(san(after), san(before), 'the same SAN (SPIFFE ID and DNS name)');

    const again = await renew({ key: nextKey, certificate: res.json.certificate }, await serviceKey('ed25519'));
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.principal, 'alpha.api');
  });

  it('accepts the leaf alone or the leaf with its chain', async () => {
    const held = await bootstrap('alpha.worker');
    const res = await renew({ key: held.key, certificate: held.certificate + held.chain }, held.key);
    assert.equal(res.status, 201, res.text);
  });

  it('refuses a request with neither a proof nor a client certificate (401)', async () => {
    assertError(await renew(null, await serviceKey()), 401, 'invalid_proof', /no proof was sent and no client certificate was presented/);
  });

  it('refuses a certificate whose serial was revoked (401)', async () => {
    const held = await bootstrap('alpha.revoked');
    await t.server.store.revokeCertificate(held.serial, 'keyCompromise', { actor: 'test' });
    assertError(await renew(held, held.key), 401, 'invalid_proof', new RegExp(`serial ${held.serial}\\) was revoked.*bootstrap a new one`));
  });

  it('refuses an expired certificate (401)', async () => {
    const held = await bootstrap('alpha.expiring');
    offset += 25 * 3600_000;
    try {
      assertError(await renew(held, held.key), 401, 'invalid_proof', /expired at .*renewal needs a valid certificate, so bootstrap a new one/);
    } finally {
      offset -= 25 * 3600_000;
    }
  });

  it('refuses renewal for a service that was disabled (403)', async () => {
    const held = await bootstrap('alpha.off');
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
    assertError(await renew(held, held.key), 403, 'forbidden', /service alpha\.off is disabled/);
  });

  it('refuses a self-signed certificate that claims a principal (401)', async () => {
    const key = await serviceKey('ec');
    const forged = { key, certificate: await selfSignedCertificate(key, 'alpha.api') };
    assertError(await renew(forged, key), 401, 'invalid_proof', /does not chain to a CA Tessera trusts/);
  });

  it('refuses a certificate from a trusted external CA, though it names the principal (401)', async () => {
    const res = await renew({ key: external.key, certificate: external.leafPem }, external.key);
    assertError(res, 401, 'invalid_proof', /not issued by this Tessera CA/);
  });

  it('refuses a renewal CSR that asks for another identity (400)', async () => {
    const held = await bootstrap('alpha.api');
    assertError(await renew(held, held.key, 'CN=alpha.worker'), 400, 'invalid_request', /CN=alpha\.worker/);
  });

  it('ignores the client certificate when the request carries a proof', async () => {
    const held = await bootstrap('alpha.api');
    const token = await t.admin$('POST', '/join-tokens', { principal: 'alpha.worker' });
    const res = await sendMtls(`${t.url}/ca/v1/certificates`, {
      ca: t.ca,
      cert: held.certificate,
      key: held.key.privatePem,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(held.key), proof: { type: 'join-token', value: token.json.token } }),
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.worker');
  });
});

// Certificates from a registered key (proof `key-assertion`, Athenz's zts-svccert flow) over
// real HTTPS: the CSR's key must be a key registered on the service and the request carries a
// JWT signed by that same key. Every way the pairing can be wrong, forged or replayed is refused.

import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, keyAssertion, opensslVerify, parseCertificate, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertCaError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('certificates from a registered key (proof key-assertion)', () => {
  let t: TestServer;
  let audience: string;
  const keys: Record<'ec' | 'ec2' | 'ed' | 'rsa' | 'stranger', ServiceKey> = {} as never;

  const request = (body: unknown): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const withAssertion = async (key: ServiceKey, options: { principal?: string; csrKey?: ServiceKey; subject?: string; assertion?: string } = {}) => {
    const principal = options.principal ?? 'alpha.api';
    const csr = await csrFor(options.csrKey ?? key, options.subject === undefined ? {} : { subject: options.subject });
    return request({ csr, proof: { type: 'key-assertion', value: options.assertion ?? (await keyAssertion(key, principal, audience)) } });
  };

  before(async () => {
    keys.ec = await serviceKey('ec');
    keys.ec2 = await serviceKey('ec');
    keys.ed = await serviceKey('ed25519');
    keys.rsa = await serviceKey('rsa');
    keys.stranger = await serviceKey('ec');
    t = await startTestServer();
    audience = `${t.url}/ca/v1/certificates`;
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    const publicKeys = [
      { kid: 'ec', pem: keys.ec.publicPem },
      { kid: 'ec2', pem: keys.ec2.publicPem },
      { kid: 'ed', pem: keys.ed.publicPem },
      { kid: 'rsa', pem: keys.rsa.publicPem },
    ];
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api', publicKeys })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'off', publicKeys: [{ kid: 'ec', pem: keys.ec.publicPem }] })).status, 201);
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
  });
  after(() => t.stop());

  it('issues a certificate for the CSR key that OpenSSL verifies for client and server use', async () => {
    const res = await withAssertion(keys.ec, { subject: 'CN=alpha.api' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.json.principal, 'alpha.api');
    assert.match(res.json.serial, /^[0-9a-f]+$/);
    const certificate = parseCertificate(res.json.certificate);
    assert.equal(certificate.subject, 'CN=alpha.api');
    assert.equal(new Date(res.json.expiresAt).getTime(), certificate.notAfter.getTime());
    const certKey = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
    assert.ok(certKey.equals(createPublicKey(keys.ec.publicPem)), 'the certificate certifies the CSR key');

    const bundle = await t.send('/ca/v1/bundle');
    for (const purpose of ['sslclient', 'sslserver'] as const) {
      assert.match(await opensslVerify(bundle.text, res.json.chain, res.json.certificate, purpose), /: OK/);
    }
  });

  for (const kind of ['ed', 'rsa'] as const) {
    it(`issues a certificate for a registered ${kind === 'ed' ? 'Ed25519' : 'RSA 2048'} key`, async () => {
      const res = await withAssertion(keys[kind]);
      assert.equal(res.status, 201, res.text);
      assert.equal(parseCertificate(res.json.certificate).subject, 'CN=alpha.api');
    });
  }

  it('refuses a CSR whose key is not registered on the service (403)', async () => {
    const res = await withAssertion(keys.stranger);
    assertCaError(res, 403, 'forbidden', /the CSR's public key is not a key registered on alpha\.api/);
  });

  it('refuses a CSR key other than the one that signed the assertion, even when both are registered (401)', async () => {
    const res = await withAssertion(keys.ec2, { csrKey: keys.ec });
    assertCaError(res, 401, 'invalid_proof', /it is not signed by the CSR's key/);
  });

  it('refuses an assertion whose alg does not fit the CSR key (401)', async () => {
    const res = await withAssertion(keys.ed, { csrKey: keys.ec });
    assertCaError(res, 401, 'invalid_proof', /alg EdDSA does not fit the CSR's key; sign it with ES256/);
  });

  it('accepts an assertion once and refuses it when replayed (401)', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience);
    assert.equal((await withAssertion(keys.ec, { assertion })).status, 201);
    const replay = await withAssertion(keys.ec, { assertion });
    assertCaError(replay, 401, 'invalid_proof', /already used \(its jti was seen before\)/);
  });

  it('refuses an assertion issued in the future, which would stay good for a year (401)', async () => {
    // exp - iat is within 5 minutes, but both lie a year ahead: a bearer credential for a year.
    const inAYear = Math.floor(Date.now() / 1000) + 365 * 86_400;
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { claims: { iat: inAYear - 60, exp: inAYear } });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /issued in the future/);
  });

  it('refuses an assertion not valid yet (nbf ahead of the clock) (401)', async () => {
    const soon = Math.floor(Date.now() / 1000) + 120;
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { claims: { nbf: soon, exp: soon + 60 } });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /not valid before/);
  });

  it('refuses an assertion made for another audience, such as the token endpoint (401)', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', `${t.url}/oauth2/token`);
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /aud must name this certificates endpoint/);
  });

  it('refuses an assertion valid for longer than 5 minutes (401)', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { lifetime: 600 });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /longer than the 300 s allowed/);
  });

  it('refuses an expired assertion (401)', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { claims: { iat: past - 60, exp: past } });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /it expired at/);
  });

  it('refuses an assertion without a jti (401)', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { claims: { jti: undefined } });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /jti is required/);
  });

  it('refuses an assertion whose iss and sub differ (401)', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience, { claims: { sub: 'alpha.other' } });
    assertCaError(await withAssertion(keys.ec, { assertion }), 401, 'invalid_proof', /iss and sub must both be the principal/);
  });

  it('answers an unknown service as it answers an unregistered key (403)', async () => {
    const res = await withAssertion(keys.ec, { principal: 'alpha.nobody' });
    assertCaError(res, 403, 'forbidden', /not a key registered on alpha\.nobody/);
  });

  it('refuses a disabled service even with a valid assertion (403)', async () => {
    const res = await withAssertion(keys.ec, { principal: 'alpha.off' });
    assertCaError(res, 403, 'forbidden', /service alpha\.off is disabled/);
  });

  it('refuses a CSR that asks for another principal (400)', async () => {
    const res = await withAssertion(keys.ec, { subject: 'CN=alpha.off' });
    assertCaError(res, 400, 'invalid_request', /CN=alpha\.off/);
  });

  it('refuses a proof value that is not a JWT (401)', async () => {
    const res = await request({ csr: await csrFor(keys.ec), proof: { type: 'key-assertion', value: 'not-a-jwt' } });
    assertCaError(res, 401, 'invalid_proof', /not a signed JWT/);
  });

  it('answers 400 for a malformed CSR without spending the assertion', async () => {
    const assertion = await keyAssertion(keys.ec, 'alpha.api', audience);
    const bad = await request({
      csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      proof: { type: 'key-assertion', value: assertion },
    });
    assertCaError(bad, 400, 'invalid_request', /CSR/);
    assert.equal((await withAssertion(keys.ec, { assertion })).status, 201, 'the assertion still works');
  });

  it('answers 400 for a CSR whose signature does not verify', async () => {
    const pem = await csrFor(keys.ec, { subject: 'CN=alpha.api' });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const res = await request({ csr: tampered, proof: { type: 'key-assertion', value: await keyAssertion(keys.ec, 'alpha.api', audience) } });
    assertCaError(res, 400, 'invalid_request', /signature/);
  });

  const badBodies: [string, unknown, RegExp][] = [
    ['a body without csr', { proof: { type: 'key-assertion', value: 'x' } }, /required field "csr"/],
    ['an unknown field', { csr: 'x', extra: 1 }, /unknown field "extra"/],
    ['an unknown proof type', { csr: 'x', proof: { type: 'password', value: 'x' } }, /proof\.type/],
    ['a proof without a value', { csr: 'x', proof: { type: 'join-token' } }, /required field "value"/],
  ];
  for (const [name, body, message] of badBodies) {
    it(`answers 400 for ${name}`, async () => {
      assertCaError(await request(body), 400, 'invalid_request', message);
    });
  }
});

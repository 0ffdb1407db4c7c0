// Invalid-curve and wrong-curve keys offered for private_key_jwt must be refused at registration.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('registering keys on unsupported or invalid curves', () => {
  let t: TestServer;
  let root: string;

  before(async () => {
    t = await startTestServer();
    root = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, root)).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'keyed' }, root)).status, 201);
  });
  after(() => t.stop());

  it('400 invalid_request for a secp256k1 key (a curve no accepted algorithm uses)', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const res = await t.admin$('PUT', '/domains/alpha/services/keyed/keys/k1', { pem }, root);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request');
    assert.equal(typeof res.json.message, 'string');
  });

  it('400 invalid_request for a P-256 key whose point is not on the curve', async () => {
    const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const bad = Buffer.from(der);
    bad[bad.length - 1] = (bad[bad.length - 1]! ^ 0x01) & 0xff; // flip one bit of y: off the curve
    const pem = `-----BEGIN PUBLIC KEY-----\n${bad.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`;
    const res = await t.admin$('PUT', '/domains/alpha/services/keyed/keys/k2', { pem }, root);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request');
    assert.equal(typeof res.json.message, 'string');
  });

  it('400 invalid_request for a key the CA would not certify either (RSA with exponent 3): one key-type table', async () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const res = await t.admin$('PUT', '/domains/alpha/services/keyed/keys/k3', { pem }, root);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request');
    assert.match(res.json.message, /public exponent 3; use an odd exponent of at least 65537/);
  });
});

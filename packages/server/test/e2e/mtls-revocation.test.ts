// Certificate revocation through the admin API: POST /admin/v1/certificates/{serial}/revoke
// (system admin, or an admin of the certificate's principal's domain). A revoked serial is
// refused at once for mutual-TLS client authentication and for renewal.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';
import { csr, newKeys, postForm, sendMtls, tesseraCertificate } from './mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };

function assertAdminError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`certificate revocation (${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let alphaAdminToken: string;
    let gammaAdminToken: string;

    before(async () => {
      if (backend === 'postgres') database = await createTestDatabase();
      t = database
        ? await startTestServer({ flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') } })
        : await startTestServer();
      for (const name of ['alpha', 'beta', 'gamma']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      for (const name of ['api', 'ops']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name, secret: name === 'ops' })).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
      const gammaOps = await t.admin$('POST', '/domains/gamma/services', { name: 'ops', secret: true });
      const alphaOps = await t.admin$('POST', '/domains/alpha/services/ops/secrets', {});
      assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/gamma/roles/admin', { members: [{ principal: 'gamma.ops' }] })).status, 201);
      alphaAdminToken = (await t.token('alpha.ops', alphaOps.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' })).json
        .access_token;
      gammaAdminToken = (await t.token('gamma.ops', gammaOps.json.clientSecret, { grant_type: 'client_credentials', scope: 'gamma:role.admin' })).json
        .access_token;
      assert.ok(alphaAdminToken && gammaAdminToken);
    });
    after(async () => {
      await t.stop();
      await database?.drop();
    });

    const revoke = (serial: string, body?: unknown, token?: string): Promise<TestResponse> => t.admin$('POST', `/certificates/${serial}/revoke`, body, token);

    it('revokes a serial: 200 with the record, and the certificate stops authenticating at once', async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      assert.equal((await postForm(t, TOKEN, { client: cert })).status, 200);

      const res = await revoke(cert.serial, { reason: 'keyCompromise' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.serial, cert.serial);
      assert.equal(res.json.principal, 'alpha.api');
      assert.equal(res.json.thumbprint, cert.thumbprint);
      assert.equal(res.json.revocationReason, 'keyCompromise');
      assert.ok(Date.parse(res.json.revokedAt) > 0, res.text);

      const refused = await postForm(t, TOKEN, { client: cert });
      assert.equal(refused.status, 401, refused.text);
      assert.equal(refused.json.error_code, 'AUTH_101');
      assert.match(refused.json.error_description, new RegExp(`\\(serial ${cert.serial}\\) was revoked at ${res.json.revokedAt}`));
    });

    it('refuses renewal over mutual TLS with a revoked certificate, and renews an unrevoked one', async () => {
      const keys = await newKeys();
      const cert = await tesseraCertificate(t, 'alpha.api', keys);
      const request = JSON.stringify({ csr: await csr(keys, 'alpha.api') });
      const renew = (): Promise<TestResponse> =>
        sendMtls(t, '/ca/v1/certificates', { method: 'POST', client: cert, headers: { 'content-type': 'application/json' }, body: request });
      assert.equal((await renew()).status, 201);
      assert.equal((await revoke(cert.serial)).status, 200);
      assertAdminError(await renew(), 401, 'invalid_proof', new RegExp(`serial ${cert.serial}\\) was revoked at .*bootstrap a new one`));
    });

    it('is idempotent and keeps the first revocation', async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      const first = await revoke(cert.serial, { reason: 'superseded' });
      const again = await revoke(cert.serial, { reason: 'keyCompromise' });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.revokedAt, first.json.revokedAt);
      const fetched = await t.admin$('GET', `/certificates/${cert.serial}`);
      assert.equal(fetched.status, 200, fetched.text);
      assert.equal(fetched.json.revokedAt, first.json.revokedAt);
    });

    it('defaults the reason to unspecified and takes the serial as openssl prints it', async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      const opensslStyle = cert.serial.toUpperCase().match(/../g)!.join(':');
      const res = await revoke(opensslStyle);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.serial, cert.serial);
      assert.equal(res.json.revocationReason, 'unspecified');
    });

    it("lets an admin of the certificate's domain revoke it, and no other domain's admin", async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      assertAdminError(
        await revoke(cert.serial, {}, gammaAdminToken),
        403,
        'forbidden',
        /gamma.ops may not do this: the token needs sys.auth:role.admin or alpha:role.admin/,
      );
      assertAdminError(await t.admin$('GET', `/certificates/${cert.serial}`, undefined, gammaAdminToken), 403, 'forbidden', /alpha:role.admin/);
      const res = await revoke(cert.serial, { reason: 'cessationOfOperation' }, alphaAdminToken);
      assert.equal(res.status, 200, res.text);
    });

    it('records who revoked it in the audit trail', async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      assert.equal((await revoke(cert.serial, { reason: 'privilegeWithdrawn' }, alphaAdminToken)).status, 200);
      const res = await t.admin$('GET', '/audit?type=certificate.revoke&limit=100');
      assert.equal(res.status, 200, res.text);
      const event = (res.json.events as { actor: string; target: string; after: { serial: string; revocationReason: string } }[]).find(
        (e) => e.after.serial === cert.serial,
      );
      assert.ok(event, res.text);
      assert.equal(event.actor, 'alpha.ops');
      assert.equal(event.target, 'alpha.api');
      assert.equal(event.after.revocationReason, 'privilegeWithdrawn');
    });

    it('answers 404 for a serial Tessera never issued', async () => {
      assertAdminError(await revoke('7f00aa'), 404, 'not_found', /Tessera's CA issued no certificate with serial 7f00aa/);
    });

    it('answers 400 for a serial that is not hex', async () => {
      assertAdminError(await revoke('not-a-serial'), 400, 'invalid_request', /"not-a-serial" is not a certificate serial; give it in hex/);
    });

    it('answers 400 for a reason it does not record', async () => {
      const cert = await tesseraCertificate(t, 'alpha.api');
      assertAdminError(
        await revoke(cert.serial, { reason: 'certificateHold' }),
        400,
        'invalid_request',
        /reason "certificateHold" is not one Tessera records; use one of unspecified, keyCompromise/,
      );
      assertAdminError(await revoke(cert.serial, { because: 'x' }), 400, 'invalid_request', /unknown field "because"/);
    });

    it('answers 401 without an admin token', async () => {
      const res = await t.send('/admin/v1/certificates/7f00aa/revoke', { method: 'POST' });
      assertAdminError(res, 401, 'invalid_token', /Authorization: Bearer/);
    });
  });

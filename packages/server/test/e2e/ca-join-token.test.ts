// Join tokens (Athenz "Copper Argos" / SPIRE join_token) over real HTTPS: an
// administrator makes a one-time, short-lived token for one principal; a new instance trades it
// for its first certificate, once and never twice.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JOIN_TOKEN_PATTERN } from '../../src/keys/join-tokens.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, parseCertificate, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('join tokens', () => {
  let t: TestServer;
  let key: ServiceKey;
  // The server's clock; tests move it forward to expire tokens.
  let offset = 0;

  const joinToken = async (body: Record<string, unknown> = { principal: 'alpha.api' }): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', body);
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const enroll = async (token: string, subject?: string): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(key, subject === undefined ? {} : { subject }), proof: { type: 'join-token', value: token } }),
    });

  before(async () => {
    key = await serviceKey('ec');
    t = await startTestServer({ now: () => Date.now() + offset, edit: (config) => void (config.joinTokens = { defaultTtl: 600, maxTtl: 3600 }) });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['api', 'worker', 'later']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'db' })).status, 201);
    // alpha.admin administers domain alpha only.
    const admin = await t.admin$('POST', '/domains/alpha/services', { name: 'admin' });
    assert.equal(admin.status, 201, admin.text);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.admin' }] })).status, 201);
  });
  after(() => t.stop());

  describe('POST /admin/v1/join-tokens', () => {
    it('returns a tsj_ token once, with its expiry from the default lifetime', async () => {
      const before = Date.now();
      const res = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' });
      assert.equal(res.status, 201, res.text);
      assert.match(res.json.token, JOIN_TOKEN_PATTERN);
      assert.equal(res.json.token.length, 64);
      assert.equal(res.json.principal, 'alpha.api');
      assert.equal(res.json.token.slice(4, 20), res.json.id);
      const expiresAt = Date.parse(res.json.expiresAt);
      assert.ok(expiresAt >= before + 600_000 && expiresAt <= Date.now() + 600_000, res.json.expiresAt);
    });

    it('honours ttlSeconds', async () => {
      const res = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api', ttlSeconds: 60 });
      assert.equal(res.status, 201, res.text);
      assert.ok(Math.abs(Date.parse(res.json.expiresAt) - (Date.now() + 60_000)) < 5_000);
    });

    it('never stores or audits the token itself', async () => {
      const token = await joinToken();
      const audit = await t.admin$('GET', '/audit?type=join-token.create&limit=5');
      assert.equal(audit.status, 200, audit.text);
      assert.ok(audit.json.events.length > 0);
      assert.ok(!audit.text.includes(token.slice(21)), 'the secret part is not in the audit trail');
    });

    it('refuses a ttlSeconds above joinTokens.maxTtl (400)', async () => {
      assertError(
        await t.admin$('POST', '/join-tokens', { principal: 'alpha.api', ttlSeconds: 3601 }),
        400,
        'invalid_request',
        /more than the 3600 s this server allows/,
      );
    });

    it('refuses a ttlSeconds that is not a positive integer (400)', async () => {
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'alpha.api', ttlSeconds: 0 }), 400, 'invalid_request', /ttlSeconds/);
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'alpha.api', ttlSeconds: '60' }), 400, 'invalid_request', /ttlSeconds/);
    });

    it('refuses a malformed principal (400) and a missing one (400)', async () => {
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'Alpha' }), 400, 'invalid_request', /not a valid principal name/);
      assertError(await t.admin$('POST', '/join-tokens', {}), 400, 'invalid_request', /required field "principal"/);
    });

    it('refuses a service that does not exist (404)', async () => {
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'alpha.nobody' }), 404, 'not_found', /service "alpha\.nobody" does not exist/);
    });

    it('refuses a disabled service (409)', async () => {
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'parked' })).status, 201);
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/parked', { status: 'DISABLED' })).status, 200);
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'alpha.parked' }), 409, 'conflict', /is disabled/);
    });

    it('refuses an expired service (409): its join token could never be used either', async () => {
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'lapsed' })).status, 201);
      const past = new Date(Date.now() + offset - 1000).toISOString();
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/lapsed', { expiresAt: past })).status, 200);
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'alpha.lapsed' }), 409, 'conflict', /has expired.*extend its expiresAt/);
    });

    it('lets a domain admin make tokens for its own domain only (403 elsewhere)', async () => {
      const secret = await t.admin$('POST', '/domains/alpha/services/admin/secrets', {});
      assert.equal(secret.status, 201, secret.text);
      const tokenRes = await t.token('alpha.admin', secret.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
      assert.equal(tokenRes.status, 200, tokenRes.text);
      const bearer = tokenRes.json.access_token as string;
      assert.equal((await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' }, bearer)).status, 201);
      assertError(await t.admin$('POST', '/join-tokens', { principal: 'beta.db' }, bearer), 403, 'forbidden', /may not do this/);
    });

    it('refuses a caller without an admin token (401)', async () => {
      const res = await t.send('/admin/v1/join-tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ principal: 'alpha.api' }),
      });
      assertError(res, 401, 'invalid_token', /Authorization: Bearer/);
    });
  });

  describe('proof join-token at POST /ca/v1/certificates', () => {
    it('issues a certificate for the token principal, with the new instance key', async () => {
      const res = await enroll(await joinToken());
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.principal, 'alpha.api');
      assert.equal(parseCertificate(res.json.certificate).subject, 'CN=alpha.api');
    });

    it('works once: the second use of the same token is refused (401)', async () => {
      const token = await joinToken({ principal: 'alpha.worker' });
      assert.equal((await enroll(token)).status, 201);
      assertError(await enroll(token), 401, 'invalid_proof', /unknown, already used or expired/);
    });

    it('works once even when two requests race with it', async () => {
      const token = await joinToken({ principal: 'alpha.worker' });
      const results = await Promise.all(Array.from({ length: 8 }, () => enroll(token)));
      assert.deepEqual(results.map((res) => res.status).sort(), [201, 401, 401, 401, 401, 401, 401, 401]);
    });

    it('refuses an expired token (401)', async () => {
      const token = await joinToken({ principal: 'alpha.api', ttlSeconds: 60 });
      offset += 61_000;
      try {
        assertError(await enroll(token), 401, 'invalid_proof', /unknown, already used or expired/);
      } finally {
        offset -= 61_000;
      }
    });

    it('refuses a token whose secret part was changed (401)', async () => {
      const token = await joinToken();
      const forged = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
      assertError(await enroll(forged), 401, 'invalid_proof', /unknown, already used or expired/);
    });

    it('refuses a value that is not a join token (401)', async () => {
      assertError(await enroll('tsk_not_a_join_token'), 401, 'invalid_proof', /not a join token/);
    });

    it('refuses a CSR that names another principal than the token is bound to (400), spending the token', async () => {
      const token = await joinToken({ principal: 'alpha.api' });
      assertError(await enroll(token, 'CN=alpha.worker'), 400, 'invalid_request', /CN=alpha\.worker.*alpha\.api/);
      assertError(await enroll(token), 401, 'invalid_proof', /already used/);
    });

    it('refuses a token whose service was disabled after it was made (403)', async () => {
      const token = await joinToken({ principal: 'alpha.later' });
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/later', { status: 'DISABLED' })).status, 200);
      assertError(await enroll(token), 403, 'forbidden', /service alpha\.later is disabled/);
    });
  });
});

describe('join tokens on two instances sharing PostgreSQL', () => {
  let database: TestDatabase;
  let first: TestServer | undefined;
  let second: TestServer | undefined;
  const env = { TESSERA_MASTER_KEY: Buffer.alloc(32, 11).toString('base64') };

  before(async () => {
    database = await createTestDatabase();
    first = await startTestServer({ flags: { database: database.url }, env });
    // The same data dir: the second instance reads the bootstrap admin the first one wrote.
    second = await startTestServer({ flags: { database: database.url }, env, dataDir: first.dataDir });
    assert.equal((await first.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    assert.equal((await second.admin$('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
  });
  after(async () => {
    await second?.stop();
    await first?.stop();
    await database.drop();
  });

  it('accepts a token at exactly one instance when both get it at once', async () => {
    const [a, b] = [first!, second!];
    const made = await a.admin$('POST', '/join-tokens', { principal: 'alpha.api' });
    assert.equal(made.status, 201, made.text);
    const csr = await csrFor(await serviceKey('ec'));
    const body = JSON.stringify({ csr, proof: { type: 'join-token', value: made.json.token } });
    const results = await Promise.all(
      [a, b, a, b].map((instance) => instance.send('/ca/v1/certificates', { method: 'POST', headers: { 'content-type': 'application/json' }, body })),
    );
    assert.deepEqual(results.map((res) => res.status).sort(), [201, 401, 401, 401]);
  });
});

// Several instances on one PostgreSQL: they start together on an empty database (one
// bootstrap admin, one CA, one first key), serve each other's clients, verify each other's
// tokens, see each other's changes (introspection at the next request; the token endpoint, which
// reads a cache of the registry, within the cache's bound: storage/registry-cache.ts), perform each rotation step exactly once, and rate-limit per
// instance (the documented semantics: buckets live in each process).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadConfig } from '../../src/config/load.ts';
import { createServer, type TesseraServer } from '../../src/server.ts';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const ISSUER = 'https://tessera.test';
const MASTER_KEY = Buffer.alloc(32, 9).toString('base64');
// Small enough to reach, large enough for the admin's and the other tests' own token requests.
const CLIENT_BURST = 5;

describe('a fleet of three instances on one PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let clock = Date.now();
  const fleet: { server: TesseraServer; url: string }[] = [];
  let ca = '';
  let admin: { clientId: string; clientSecret: string };

  const call = (i: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<TestResponse> =>
    send(`${fleet[i]!.url}${path}`, { ...options, ca });
  const token = (i: number, id: string, secret: string, scope: string): Promise<TestResponse> =>
    call(i, '/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
  let adminToken = '';
  const adminCall = (i: number, method: string, path: string, body?: unknown): Promise<TestResponse> =>
    call(i, `/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  before(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-fleet-'));
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const servers = await Promise.all(
      ports.map((port) => {
        const config = loadConfig({
          flags: { dataDir, listen: `https://127.0.0.1:${port}`, issuer: ISSUER, database: database.url, logLevel: 'silent' },
          env: { TESSERA_MASTER_KEY: MASTER_KEY },
          cwd: dataDir,
        });
        // The clock only moves when a test moves it, so buckets refill only then.
        config.rateLimits.client = { rate: 1, burst: CLIENT_BURST };
        return createServer(config, { now: () => clock });
      }),
    );
    for (const server of servers) fleet.push({ server, url: await server.listen() });
    ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as typeof admin;
    adminToken = (await token(0, admin.clientId, admin.clientSecret, 'sys.auth:role.admin')).json.access_token as string;
  });
  after(async () => {
    for (const { server } of fleet) await server.close();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starting together makes exactly one bootstrap admin, one CA and one first signing key', async () => {
    assert.equal(fleet.filter(({ server }) => server.bootstrapCredentialFile !== null).length, 1);
    assert.equal(new Set(fleet.map(({ server }) => server.ca.bundlePem)).size, 1);
    const jwks = await Promise.all([0, 1, 2].map(async (i) => (await call(i, '/oauth2/keys')).text));
    assert.equal(new Set(jwks).size, 1);
    assert.equal((JSON.parse(jwks[0]!) as JSONWebKeySet).keys.length, 1);
    const created = await adminCall(1, 'GET', '/audit?type=signing-key.create');
    assert.equal(created.json.events.length, 1, `one instance created the first key: ${JSON.stringify(created.json.events)}`);
  });

  it("a client registered on one instance gets tokens from another, verifiable with a third one's JWKS", async () => {
    assert.equal((await adminCall(0, 'POST', '/domains', { name: 'beta' })).status, 201);
    const secret = (await adminCall(0, 'POST', '/domains/beta/services', { name: 'api' })).json.clientSecret as string;
    await adminCall(0, 'PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] });
    const res = await token(1, 'beta.api', secret, 'beta:domain');
    assert.equal(res.status, 200, res.text);
    const keys = createLocalJWKSet((await call(2, '/oauth2/keys')).json as JSONWebKeySet);
    const { payload } = await jwtVerify(res.json.access_token, keys, { issuer: ISSUER, audience: 'beta', currentDate: new Date(clock) });
    assert.deepEqual(payload['scp'], ['readers']);

    // A disable on one instance is refused on the others within the registry cache's bound (about 1 s).
    assert.equal((await adminCall(2, 'PATCH', '/domains/beta/services/api', { status: 'DISABLED' })).status, 200);
    const start = performance.now();
    for (const i of [0, 1]) {
      // Watched in the instance's cache itself: token requests would spend the client's rate limit.
      while ((await fleet[i]!.server.registry.getService('beta.api'))?.status !== 'DISABLED') {
        assert.ok(performance.now() - start < 1500, `instance ${i} did not hear of the disable`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal((await token(i, 'beta.api', secret, 'beta:domain')).json.error_code, 'AUTH_103');
    }
  });

  it('a revocation or a disable on one instance is seen by introspection on every other at its next request', async () => {
    assert.equal((await adminCall(0, 'POST', '/domains', { name: 'gamma' })).status, 201);
    const client = async (name: string): Promise<{ id: string; secret: string }> => {
      const res = await adminCall(1, 'POST', '/domains/gamma/services', { name });
      assert.equal(res.status, 201, res.text);
      return { id: `gamma.${name}`, secret: res.json.clientSecret as string };
    };
    const [api, rs] = [await client('api'), await client('rs')];
    await adminCall(2, 'PUT', '/domains/gamma/roles/readers', { members: [{ principal: api.id }] });
    const form = (i: number, path: string, as: { id: string; secret: string }, params: Record<string, string>): Promise<TestResponse> =>
      call(i, path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(as.id, as.secret) },
        body: new URLSearchParams(params).toString(),
      });
    const activeOn = async (i: number, accessToken: string): Promise<boolean> => {
      const res = await form(i, '/oauth2/introspect', rs, { token: accessToken });
      assert.equal(res.status, 200, res.text);
      return res.json.active as boolean;
    };
    const issue = async (i: number): Promise<string> => {
      const res = await token(i, api.id, api.secret, 'gamma:domain');
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    };

    const revoked = await issue(0);
    const kept = await issue(1);
    for (const i of [0, 1, 2]) assert.equal(await activeOn(i, revoked), true);
    assert.equal((await form(2, '/oauth2/revoke', api, { token: revoked })).status, 200);
    for (const i of [0, 1, 2]) assert.equal(await activeOn(i, revoked), false, `revoked on instance 2, inactive on ${i}`);
    for (const i of [0, 1, 2]) assert.equal(await activeOn(i, kept), true, 'only the revoked token');

    assert.equal((await adminCall(0, 'PATCH', '/domains/gamma/services/api', { status: 'DISABLED' })).status, 200);
    for (const i of [0, 1, 2]) assert.equal(await activeOn(i, kept), false, `disabled on instance 0, inactive on ${i}`);
  });

  it('rate-limits each client per instance: each allows the burst, so the fleet allows three times it', async () => {
    const created = await adminCall(0, 'POST', '/domains/gamma/services', { name: 'limited' });
    assert.equal(created.status, 201, created.text);
    const secret = created.json.clientSecret as string;
    await adminCall(0, 'PUT', '/domains/gamma/roles/readers', { members: [{ principal: 'gamma.limited' }] });
    for (const i of [0, 1, 2]) {
      const statuses: number[] = [];
      for (let n = 0; n <= CLIENT_BURST; n += 1) statuses.push((await token(i, 'gamma.limited', secret, 'gamma:domain')).status);
      assert.deepEqual(statuses, [...Array<number>(CLIENT_BURST).fill(200), 429], `instance ${i}: the burst, then 429`);
    }
  });

  it('performs each rotation step exactly once across the fleet', async () => {
    const rotated = await adminCall(0, 'POST', '/signing-keys/rotate');
    assert.equal(rotated.status, 202, rotated.text);
    const newKid = rotated.json.kid as string;
    // Every instance races through the same refreshes; the store's compare-and-set decides.
    await Promise.all(fleet.map(({ server }) => server.signingKeys.refresh()));
    for (const i of [0, 1, 2]) assert.ok(((await call(i, '/oauth2/keys')).json as JSONWebKeySet).keys.some((k) => k.kid === newKid));

    clock = Date.parse(rotated.json.activatesAt as string);
    await Promise.all(fleet.map(({ server }) => server.signingKeys.refresh()));
    await Promise.all(fleet.map(({ server }) => server.signingKeys.refresh()));
    adminToken = (await token(2, admin.clientId, admin.clientSecret, 'sys.auth:role.admin')).json.access_token as string;
    assert.equal(decodeProtectedHeader(adminToken).kid, newKid);
    const promoted = await adminCall(1, 'GET', '/audit?type=signing-key.activate');
    assert.equal(promoted.json.events.length, 1, 'one instance activated the key');
    const created = await adminCall(1, 'GET', '/audit?type=signing-key.create');
    assert.equal(created.json.events.length, 2, 'first key plus the forced one, nothing twice');
  });
});

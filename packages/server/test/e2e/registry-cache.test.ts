// The token endpoint reads the registry from memory (storage/registry-cache.ts): in steady state
// a token costs no SQL statement but its batched audit (and, for private_key_jwt, the recorded
// assertion jti), and every change made through the instance is seen by its very next request.
// Both backends.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { REACH_SECONDS } from '../../src/oauth2/key-removal.ts';
import { sqlStatements } from '../../src/storage/drivers/statements.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';
import { postForm, tesseraCertificate } from './mtls-support.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MASTER_KEY = Buffer.alloc(32, 5).toString('base64');
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();

export async function statementsSent(backend: 'sqlite' | 'postgres'): Promise<number> {
  const { values } = await sqlStatements.get();
  return values.find((value) => value.labels['backend'] === backend)?.value ?? 0;
}

/** Counts the statements the server's batched audit sends, to tell them from the token path's own; `restore` ends it. */
function countAudit(t: TestServer, backend: 'sqlite' | 'postgres'): { statements: () => number; restore: () => void } {
  const store = t.server.store;
  const append = store.appendAuditBatch.bind(store);
  let statements = 0;
  store.appendAuditBatch = async (events) => {
    const before = await statementsSent(backend);
    await append(events);
    statements += (await statementsSent(backend)) - before;
  };
  return { statements: () => statements, restore: () => void (store.appendAuditBatch = append) };
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`the registry cache on the token path (${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let n = 0;

    /** A service of domain alpha with a secret and a key, member of beta:readers. */
    const newClient = async (): Promise<{ id: string; name: string; secret: string }> => {
      const name = `c${(n += 1)}`;
      const res = await t.admin$('POST', '/domains/alpha/services', { name, secret: true, publicKeys: [{ kid: 'k1', pem }] });
      assert.equal(res.status, 201, res.text);
      assert.equal((await t.admin$('PUT', `/domains/beta/roles/readers/members/alpha.${name}`, {})).status < 300, true);
      return { id: `alpha.${name}`, name, secret: res.json.clientSecret as string };
    };
    const secretToken = (id: string, secret: string, scope = 'beta:domain'): Promise<TestResponse> =>
      t.token(id, secret, { grant_type: 'client_credentials', scope });
    const jwtToken = async (id: string, kid = 'k1'): Promise<TestResponse> => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ iss: id, sub: id, aud: `${t.url}/oauth2/token`, iat: now, exp: now + 60, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(key.privateKey);
      return t.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'beta:domain',
          client_assertion_type: JWT_BEARER,
          client_assertion: assertion,
        }).toString(),
      });
    };

    before(async () => {
      if (backend === 'postgres') database = await createTestDatabase();
      // The feed is read only once a minute here: what these tests see comes from the instance's own eviction.
      t = await startTestServer({
        ...(database ? { flags: { database: database.url } } : {}),
        env: {
          TESSERA_MASTER_KEY: MASTER_KEY,
          TESSERA_TOKEN_REUSE: 'true',
          TESSERA_TOKEN_REUSE_WINDOW: '30s',
          TESSERA_RATE_LIMIT_CLIENT: '100000',
          TESSERA_RATE_LIMIT_CLIENT_BURST: '100000',
        },
        registryCache: { pollMs: 60_000, safetyPollMs: 60_000, maxStaleMs: 3_600_000 },
      });
      for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [] })).status, 201);
    });
    after(async () => {
      await t.stop();
      await database?.drop();
    });

    it('sends no SQL statement per token in steady state but the audit batches (and the assertion jti for private_key_jwt)', async () => {
      const client = await newClient();
      assert.equal((await secretToken(client.id, client.secret)).status, 200);
      assert.equal((await jwtToken(client.id)).status, 200);
      // Statements of the batched audit are counted apart: they are the accepted cost.
      await t.server.flushAudit();
      let audit = countAudit(t, backend);
      try {
        const tokens = 100;
        let start = await statementsSent(backend);
        for (let i = 0; i < tokens; i += 1) {
          // Another scope each time, so server-side reuse does not answer for the grant.
          const res = await secretToken(client.id, client.secret, i % 2 === 0 ? 'beta:domain' : 'beta:role.readers');
          assert.equal(res.status, 200, res.text);
        }
        await t.server.flushAudit();
        assert.equal((await statementsSent(backend)) - start - audit.statements(), 0, 'client_secret_basic: no statement but the audit');
        audit.restore();

        audit = countAudit(t, backend);
        start = await statementsSent(backend);
        for (let i = 0; i < tokens; i += 1) assert.equal((await jwtToken(client.id)).status, 200);
        await t.server.flushAudit();
        const jwtStatements = (await statementsSent(backend)) - start - audit.statements();
        // One INSERT of the assertion's jti per token (replay protection across instances), and
        // at most one pruning of expired ones. (One may overlap an audit batch and be counted with it.)
        assert.ok(jwtStatements >= tokens - 5 && jwtStatements <= tokens + 1, `private_key_jwt: ${jwtStatements} statements for ${tokens} tokens`);
      } finally {
        audit.restore();
      }
      const metrics = await t.send('/metrics');
      assert.match(metrics.text, new RegExp(`tessera_sql_statements_total\\{backend="${backend}"\\} \\d+`));
    });

    it('sends no SQL statement per tls_client_auth token in steady state, and refuses a certificate revoked at the next request', async () => {
      const client = await newClient();
      const certificate = await tesseraCertificate(t, client.id);
      // Its key was registered in this second: tokens of a removal's second are not issued, so keep clear of it.
      const form = { grant_type: 'client_credentials', scope: 'beta:domain' };
      assert.equal((await postForm(t, form, { client: certificate })).status, 200);
      await t.server.flushAudit();
      const start = await statementsSent(backend);
      const audit = countAudit(t, backend);
      try {
        for (let i = 0; i < 50; i += 1) {
          const res = await postForm(t, { ...form, scope: i % 2 === 0 ? 'beta:domain' : 'beta:role.readers' }, { client: certificate });
          assert.equal(res.status, 200, res.text);
        }
        await t.server.flushAudit();
      } finally {
        audit.restore();
      }
      assert.equal((await statementsSent(backend)) - start - audit.statements(), 0, 'tls_client_auth: no statement but the audit');
      const revoked = await t.admin$('POST', `/certificates/${certificate.serial}/revoke`, { reason: 'keyCompromise' });
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal((await postForm(t, form, { client: certificate })).status, 401);
    });

    it('refuses a service disabled, expired or moved outside its allowed IPs at the next request', async () => {
      for (const patch of [{ status: 'DISABLED' }, { expiresAt: new Date(Date.now() - 1000).toISOString() }, { allowedIps: ['10.9.9.9/32'] }]) {
        const client = await newClient();
        assert.equal((await secretToken(client.id, client.secret)).status, 200);
        assert.equal((await jwtToken(client.id)).status, 200);
        const res = await t.admin$('PATCH', `/domains/alpha/services/${client.name}`, patch);
        assert.equal(res.status, 200, res.text);
        assert.notEqual((await secretToken(client.id, client.secret)).status, 200, JSON.stringify(patch));
        assert.notEqual((await jwtToken(client.id)).status, 200, JSON.stringify(patch));
      }
    });

    it('stops a secret rotated out with no grace, and takes the new one, at the next request', async () => {
      const client = await newClient();
      assert.equal((await secretToken(client.id, client.secret)).status, 200);
      const rotated = await t.admin$('POST', `/domains/alpha/services/${client.name}/secrets`, { graceSeconds: 0 });
      assert.equal(rotated.status, 201, rotated.text);
      assert.equal((await secretToken(client.id, client.secret)).status, 401);
      assert.equal((await secretToken(client.id, rotated.json.clientSecret as string)).status, 200);
    });

    it('stops a key deleted, and takes a key added, at the next request', async () => {
      const client = await newClient();
      assert.equal((await jwtToken(client.id)).status, 200);
      assert.equal((await t.admin$('PUT', `/domains/alpha/services/${client.name}/keys/k2`, { pem })).status < 300, true);
      // Tokens of the removal's second and of its reach are not issued (oauth2/key-removal.ts), so wait them out below.
      assert.equal((await t.admin$('DELETE', `/domains/alpha/services/${client.name}/keys/k1`)).status, 204);
      assert.equal((await jwtToken(client.id, 'k1')).status, 401);
      const refused = await jwtToken(client.id, 'k2');
      assert.equal(refused.status, 503, refused.text);
      await new Promise((resolve) => setTimeout(resolve, (REACH_SECONDS + 1) * 1000 + 100));
      assert.equal((await jwtToken(client.id, 'k2')).status, 200);
    });

    it('stops granting a role whose membership was removed, or that was deleted, at the next request', async () => {
      const client = await newClient();
      assert.equal((await secretToken(client.id, client.secret)).status, 200);
      assert.equal((await t.admin$('DELETE', `/domains/beta/roles/readers/members/${client.id}`)).status, 204);
      assert.equal((await secretToken(client.id, client.secret)).status, 403);
      // Back through a whole member list, then the role deleted.
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/writers', { members: [{ principal: client.id }] })).status, 201);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.writers')).status, 200);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/writers', { members: [] })).status, 200);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.writers')).status, 403);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/writers', { members: [{ principal: client.id }] })).status, 200);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.writers')).status, 200);
      assert.equal((await t.admin$('DELETE', '/domains/beta/roles/writers')).status, 204);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.writers')).status, 403);
    });

    it('grants a role at the next request once a bulk addition names the client', async () => {
      const client = await newClient();
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/bulk', { members: [] })).status, 201);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.bulk')).status, 403);
      const added = await t.admin$('POST', '/domains/beta/roles/bulk/members', { members: [{ principal: 'alpha.nobody' }, { principal: client.id }] });
      assert.equal(added.status < 300, true, added.text);
      assert.equal((await secretToken(client.id, client.secret, 'beta:role.bulk')).status, 200);
    });

    it("applies a domain's or a role's new lifetime limit at the next request", async () => {
      assert.equal((await t.admin$('POST', '/domains', { name: 'limits' })).status, 201);
      const client = await newClient();
      assert.equal((await t.admin$('PUT', '/domains/limits/roles/r', { members: [{ principal: client.id }] })).status, 201);
      const lifetime = async (): Promise<number> => {
        const res = await secretToken(client.id, client.secret, 'limits:domain');
        assert.equal(res.status, 200, res.text);
        return res.json.expires_in as number;
      };
      assert.ok((await lifetime()) > 600);
      assert.equal((await t.admin$('PATCH', '/domains/limits', { tokenMaxLifetime: 600 })).status, 200);
      assert.ok((await lifetime()) <= 600);
      assert.equal((await t.admin$('PUT', '/domains/limits/roles/r', { tokenMaxLifetime: 300 })).status, 200);
      assert.ok((await lifetime()) <= 300);
    });

    it('does not hand out again a reused token revoked through this instance', async () => {
      const client = await newClient();
      const first = await secretToken(client.id, client.secret);
      assert.equal((await secretToken(client.id, client.secret)).json.access_token, first.json.access_token, 'reused');
      const revoked = await t.send('/oauth2/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.id, client.secret) },
        body: new URLSearchParams({ token: first.json.access_token as string }).toString(),
      });
      assert.equal(revoked.status, 200, revoked.text);
      assert.notEqual((await secretToken(client.id, client.secret)).json.access_token, first.json.access_token);
    });

    it('forgets a deleted service, and serves the one registered again under its name', async () => {
      const client = await newClient();
      assert.equal((await secretToken(client.id, client.secret)).status, 200);
      assert.equal((await t.admin$('DELETE', `/domains/alpha/services/${client.name}`)).status, 204);
      assert.equal((await secretToken(client.id, client.secret)).status, 401);
      const again = await t.admin$('POST', '/domains/alpha/services', { name: client.name });
      assert.equal(again.status, 201, again.text);
      assert.equal((await secretToken(client.id, client.secret)).status, 401, 'the old secret is gone with the old service');
      assert.equal((await secretToken(client.id, again.json.clientSecret as string)).status, 403, 'no membership survived the deletion');
      assert.equal((await t.admin$('PUT', `/domains/beta/roles/readers/members/${client.id}`, {})).status < 300, true);
      const res = await secretToken(client.id, again.json.clientSecret as string);
      assert.equal(res.status, 200, res.text);
    });

    it('sees a client id and a domain once they are created, after asking for them unknown', async () => {
      assert.equal((await secretToken('alpha.later', 'nothing')).status, 401);
      const created = await t.admin$('POST', '/domains/alpha/services', { name: 'later' });
      assert.equal(created.status, 201);
      const secret = created.json.clientSecret as string;
      assert.equal((await secretToken('alpha.later', secret, 'ghost:domain')).status, 404);
      assert.equal((await t.admin$('POST', '/domains', { name: 'ghost' })).status, 201);
      assert.equal((await secretToken('alpha.later', secret, 'ghost:domain')).status, 403, 'the domain exists now; no role in it');
      assert.equal((await t.admin$('PUT', '/domains/ghost/roles/r', { members: [{ principal: 'alpha.later' }] })).status, 201);
      assert.equal((await secretToken('alpha.later', secret, 'ghost:domain')).status, 200);
      assert.equal((await t.admin$('DELETE', '/domains/ghost/roles/r')).status, 204);
      assert.equal((await t.admin$('DELETE', '/domains/ghost')).status, 204);
      assert.equal((await secretToken('alpha.later', secret, 'ghost:domain')).status, 404);
    });
  });
}

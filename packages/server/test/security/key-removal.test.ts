// Removing or replacing a registered key ends every token of the service issued up to and
// including the removal's second, bound or not, whatever the client authenticated with; no token
// is issued in that second (503, Retry-After: 1); and the certificates the key proved through the
// CA's key assertion are revoked with their renewals. Over real HTTPS, with a server clock the
// tests pin to one second.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { CryptoKeyPair } from '../../src/ca/x509.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { introspectAs, startTestServer, type TestServer } from '@tessera/testkit/server';
import { REACH_SECONDS } from '../../src/oauth2/key-removal.ts';
import { createTokenClient } from '../../../sdk/src/index.ts';
import {
  assertRejected,
  makeLeaf,
  newKeys,
  postForm,
  publicKeyPem,
  renewOverMtls,
  sendMtls,
  tesseraCertificate,
  type ClientCertificate,
} from '../e2e/mtls-support.ts';

const ADMIN_SCOPE = 'sys.auth:role.admin alpha:role.admin';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const KEY_GONE = /a public key registered on alpha\.\w+ was removed or replaced at .*ends every token .*get a new token/;

describe('removing a registered key ends every token of the service issued until that second', () => {
  let t: TestServer;
  let pinned: number | null = null;
  let rs: { id: string; secret: string };

  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const introspect = async (token: string): Promise<Record<string, unknown>> => (await introspectAs(t, rs, token)).json as Record<string, unknown>;
  const adminCall = (token: string, cert?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, '/admin/v1/domains/alpha/services', { headers: bearer(token), client: cert });
  const authAdminCall = (token: string, cert?: ClientCertificate): Promise<TestResponse> =>
    sendMtls(t, '/auth/admin/service-accounts', { headers: bearer(token), client: cert });

  /** An admin service of alpha and of the system, with keys k1 and k2 registered; its secret. */
  type Admin = { name: string; secret: string; keys: Record<'k1' | 'k2', CryptoKeyPair>; selfSigned: ClientCertificate };
  const adminService = async (name: string): Promise<Admin> => {
    const res = await t.admin$('POST', '/domains/alpha/services', { name });
    assert.equal(res.status, 201, res.text);
    assert.equal((await t.admin$('PUT', `/domains/alpha/roles/admin/members/alpha.${name}`, {})).status, 201);
    assert.equal((await t.admin$('PUT', `/domains/sys.auth/roles/admin/members/alpha.${name}`, {})).status, 201);
    const keys = { k1: await newKeys(), k2: await newKeys() };
    for (const kid of ['k1', 'k2'] as const) {
      const put = await t.admin$('PUT', `/domains/alpha/services/${name}/keys/${kid}`, { pem: await publicKeyPem(keys[kid]) });
      assert.equal(put.status, 201, put.text);
    }
    const notAfter = new Date(Date.now() + 300_000);
    const selfSigned = await makeLeaf(null, { subject: `CN=alpha.${name}`, keys: keys.k1, notAfter });
    return { name, secret: res.json.clientSecret as string, keys, selfSigned };
  };
  const clientAssertion = async (a: Admin, kid: 'k1' | 'k2'): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const id = `alpha.${a.name}`;
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(id)
      .setSubject(id)
      .setAudience(`${t.url}/oauth2/token`)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(a.keys[kid].privateKey);
  };
  const asks = {
    selfSigned: (a: Admin) => postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE, client_id: `alpha.${a.name}` }, { client: a.selfSigned }),
    privateKeyJwt: async (a: Admin) =>
      postForm(t, {
        grant_type: 'client_credentials',
        scope: ADMIN_SCOPE,
        client_assertion_type: JWT_BEARER,
        client_assertion: await clientAssertion(a, 'k1'),
      }),
    secret: (a: Admin) => t.token(`alpha.${a.name}`, a.secret, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }),
  };
  type Held = { token: string; cert?: ClientCertificate };
  const tokensOf = async (a: Admin): Promise<Held[]> => {
    const held: Held[] = [];
    for (const [how, ask] of Object.entries(asks)) {
      const res = await ask(a);
      assert.equal(res.status, 200, `${how}: ${res.text}`);
      held.push({ token: res.json.access_token as string, ...(how === 'selfSigned' && { cert: a.selfSigned }) });
    }
    return held;
  };
  const assertWorks = async ({ token, cert }: Held): Promise<void> => {
    assert.equal((await adminCall(token, cert)).status, 200);
    assert.equal((await authAdminCall(token, cert)).status, 200);
    assert.equal((await introspect(token))['active'], true);
  };
  const assertEnded = async ({ token, cert }: Held): Promise<void> => {
    for (const res of [await adminCall(token, cert), await authAdminCall(token, cert)]) {
      assert.equal(res.status, 401, res.text);
      assert.equal(res.json.error, 'invalid_token', res.text);
      assert.match(res.json.message, KEY_GONE);
    }
    assert.deepEqual(await introspect(token), { active: false });
  };
  /** Refused with the seconds left until the removal's reach has passed (REACH_SECONDS + 1 in the removal's own second). */
  const assertJustRemoved = (res: TestResponse, wait = REACH_SECONDS + 1): void => {
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error, 'temporarily_unavailable', res.text);
    assert.match(res.json.error_description, new RegExp(`a public key registered on alpha\\.\\w+ was just removed .*retry in ${wait} seconds?$`));
    assert.equal(res.headers['retry-after'], String(wait));
  };
  /** Runs `body` with the server clock held at 100 ms into the next whole second. */
  const inOneSecond = async (body: () => Promise<void>): Promise<void> => {
    pinned = (Math.floor(Date.now() / 1000) + 1) * 1000 + 100;
    try {
      await body();
    } finally {
      pinned = null;
    }
  };
  /** The clock moved `seconds` whole seconds on. */
  const secondsOn = (seconds: number): void => {
    pinned = (Math.floor(pinned! / 1000) + seconds) * 1000;
  };
  /** The first second past the removal's reach. */
  const pastReach = (): void => secondsOn(REACH_SECONDS + 1);

  before(async () => {
    t = await startTestServer({
      now: () => pinned ?? Date.now(),
      edit: (config) => {
        config.tokenReuse.enabled = true;
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [] })).status, 201);
    const created = await t.admin$('POST', '/domains/beta/services', { name: 'rs' });
    assert.equal(created.status, 201, created.text);
    rs = { id: 'beta.rs', secret: created.json.clientSecret as string };
  });
  after(async () => {
    await t.stop();
  });

  it('tokens of the service (self-signed, private_key_jwt, secret) die with a removal in their second; none issued after', async () => {
    const a = await adminService('race');
    await inOneSecond(async () => {
      const held = await tokensOf(a);
      for (const h of held) await assertWorks(h);
      assert.equal((await t.admin$('DELETE', '/domains/alpha/services/race/keys/k2')).status, 204);
      for (const h of held) await assertEnded(h);
      // Asked for between two removals of one second: refused, never dated past the second.
      assertJustRemoved(await asks.selfSigned(a));
      assertJustRemoved(await asks.privateKeyJwt(a));
      assertJustRemoved(await asks.secret(a));
      assert.equal((await t.admin$('DELETE', '/domains/alpha/services/race/keys/k1')).status, 204);
      pastReach();
      assertRejected(await asks.selfSigned(a), /not registered/);
      assert.equal((await asks.privateKeyJwt(a)).status, 401);
    });
  });

  it("no token until the removal's reach has passed (503, Retry-After: the seconds left); then a token that works", async () => {
    const a = await adminService('retry');
    await inOneSecond(async () => {
      assert.equal((await t.admin$('DELETE', '/domains/alpha/services/retry/keys/k2')).status, 204);
      assertJustRemoved(await asks.selfSigned(a));
      assertJustRemoved(await asks.privateKeyJwt(a));
      secondsOn(REACH_SECONDS);
      assertJustRemoved(await asks.secret(a), 1);
      secondsOn(1);
      for (const h of await tokensOf(a)) await assertWorks(h);
    });
  });

  it('the SDK token client asked right after a removal waits out Retry-After and gets a token that works', async () => {
    const a = await adminService('sdk');
    const client = createTokenClient({ issuer: t.url, ca: t.ca, credentials: { clientId: 'alpha.sdk', clientSecret: a.secret } });
    try {
      // Real time: the request lands within the removal's reach (503), the retry after it.
      assert.equal((await t.admin$('DELETE', '/domains/alpha/services/sdk/keys/k2')).status, 204);
      const started = Date.now();
      const token = await client.getAccessToken({ scope: ADMIN_SCOPE });
      assert.ok(Date.now() - started < 5000 + REACH_SECONDS * 1000);
      await assertWorks({ token });
    } finally {
      await client.close();
    }
  });

  it('a private_key_jwt token and a client_secret token of the service end when a key is deleted later', async () => {
    const a = await adminService('unbound');
    const held = (await tokensOf(a)).filter((h) => h.cert === undefined);
    for (const h of held) await assertWorks(h);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await t.admin$('DELETE', '/domains/alpha/services/unbound/keys/k1')).status, 204);
    for (const h of held) await assertEnded(h);
  });

  it('a certificate the deleted key proved and its renewal with a new key are revoked; tls_client_auth refuses them', async () => {
    await adminService('proved');
    const proved = await tesseraCertificate(t, 'alpha.proved');
    const { renewed } = await renewOverMtls(t, proved, 'alpha.proved');
    assert.ok(renewed);
    const other = await tesseraCertificate(t, 'alpha.proved');
    const keys = (await t.admin$('GET', '/domains/alpha/services/proved/keys')).json.keys as { kid: string }[];
    const provingKid = keys.map((k) => k.kid).find((kid) => kid.startsWith('k-'))!;
    const listed = await t.admin$('GET', '/domains/alpha/services/proved/certificates');
    const listedCertificates = listed.json.certificates as { serial: string; provedByKey: string | null }[];
    const bySerial = new Map(listedCertificates.map((c) => [c.serial, c]));
    assert.equal(bySerial.get(proved.serial)?.provedByKey, provingKid, listed.text);
    assert.equal(bySerial.get(renewed.serial)?.provedByKey, null, 'a renewal is proved by the certificate it renews');
    const tls = (cert: ClientCertificate): Promise<TestResponse> => postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }, { client: cert });
    for (const cert of [proved, renewed, other]) assert.equal((await tls(cert)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1000));

    assert.equal((await t.admin$('DELETE', `/domains/alpha/services/proved/keys/${provingKid}`)).status, 204);
    for (const cert of [proved, renewed]) assertRejected(await tls(cert), /revoked/);
    assert.equal((await renewOverMtls(t, renewed, 'alpha.proved')).res.status, 401);
    await new Promise((resolve) => setTimeout(resolve, (REACH_SECONDS + 1) * 1000));
    assert.equal((await tls(other)).status, 200, 'a certificate another key proved stands');
    const audit = await t.admin$('GET', '/audit?principal=alpha.proved&type=public-key.delete&limit=5');
    assert.equal(audit.status, 200, audit.text);
    assert.equal(audit.json.events[0].before.certificatesRevoked, 2, audit.text);
  });

  it('a PUT of the same PEM again changes nothing; another PEM under the kid revokes what the old key proved', async () => {
    const a = await adminService('same');
    const pair = await newKeys();
    const cert = await tesseraCertificate(t, 'alpha.same', pair);
    const kid = ((await t.admin$('GET', '/domains/alpha/services/same/keys')).json.keys as { kid: string }[])
      .map((k) => k.kid)
      .find((k) => k.startsWith('k-'))!;
    const held = await tokensOf(a);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const same = await t.admin$('PUT', `/domains/alpha/services/same/keys/${kid}`, { pem: await publicKeyPem(pair) });
    assert.deepEqual(same.json, { kid, created: false, certificatesRevoked: 0 });
    for (const h of held) await assertWorks(h);
    const tls = (): Promise<TestResponse> => postForm(t, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }, { client: cert });
    assert.equal((await tls()).status, 200);

    const otherPem = await publicKeyPem(await newKeys());
    const replaced = await t.admin$('PUT', `/domains/alpha/services/same/keys/${kid}`, { pem: otherPem });
    assert.deepEqual(replaced.json, { kid, created: false, certificatesRevoked: 1 });
    for (const h of held) await assertEnded(h);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assertRejected(await tls(), /revoked/);
  });
});

const ISSUER = 'https://tessera.test:8443';

describe('a key removed through one instance ends the tokens another issues before it hears of the removal', () => {
  let a: TestServer;
  let b: TestServer;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-key-reach-'));
    // One issuer for both, as behind one load balancer: each accepts the other's tokens.
    const env = { TESSERA_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'), TESSERA_ISSUER: ISSUER };
    a = await startTestServer({ dataDir, env });
    // B reads the change feed once a minute: it stands for an instance within the propagation bound.
    b = await startTestServer({ dataDir, env, registryCache: { pollMs: 60_000, safetyPollMs: 60_000, maxStaleMs: 3_600_000 } });
    for (const name of ['alpha', 'beta']) assert.equal((await a.admin$('POST', '/domains', { name })).status, 201);
  });
  after(async () => {
    await b.stop();
    await a.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a private_key_jwt token B issues with the removed key a second later is inactive at introspection and refused by the admin API', async () => {
    const keys = await newKeys();
    const made = await a.admin$('POST', '/domains/alpha/services', { name: 'api', publicKeys: [{ kid: 'k1', pem: await publicKeyPem(keys) }] });
    assert.equal(made.status, 201, made.text);
    assert.equal((await a.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.api' }] })).status < 300, true);
    const rs = await a.admin$('POST', '/domains/beta/services', { name: 'rs' });
    const ask = async (): Promise<TestResponse> => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('alpha.api')
        .setSubject('alpha.api')
        .setAudience(`${ISSUER}/oauth2/token`)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(keys.privateKey);
      return postForm(b, { grant_type: 'client_credentials', scope: 'alpha:role.admin', client_assertion_type: JWT_BEARER, client_assertion: assertion });
    };
    const fresh = await ask();
    assert.equal(fresh.status, 200, 'B holds the key in its cache');
    // A accepts B's tokens: what ends the stale one below is the removal, nothing else.
    assert.equal((await introspectAs(a, { id: 'beta.rs', secret: rs.json.clientSecret as string }, fresh.json.access_token as string)).json['active'], true);
    assert.equal((await a.admin$('DELETE', '/domains/alpha/services/api/keys/k1')).status, 204);
    // Into the next second: a token of B's is no longer of the removal's own second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const stale = await ask();
    assert.equal(stale.status, 200, 'B has not heard of the removal');
    const token = stale.json.access_token as string;
    const answer = await introspectAs(a, { id: 'beta.rs', secret: rs.json.clientSecret as string }, token);
    assert.deepEqual(answer.json, { active: false });
    const admin = await a.send('/admin/v1/domains/alpha/services', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(admin.status, 401, admin.text);
    assert.match(admin.json.message as string, KEY_GONE);
  });
});

// Review 7: attacks on federated client assertions (oidcProofs with uses "client-assertions") and
// how they combine with the certificate proof of the same issuer, token exchange and other
// instances sharing a database. Each test is named after the safe behaviour. Tests marked HOLE fail
// on the code reviewed; the others are attacks that were refused and guard against regressions.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, exportJWK, type JWTPayload } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { exportPkcs8Pem } from '../../src/ca/x509.ts';
import { csr, newKeys, postForm } from '../e2e/mtls-support.ts';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const KUBERNETES = 'https://kubernetes.default.svc.cluster.local';
/** One issuer for the deployment, as instances behind one name have. */
const ISSUER = 'https://tessera.review7.test';
const K8S_PATTERN = '^system:serviceaccount:(?<domain>[a-z0-9-]+):(?<service>[a-z0-9-]+)$';

describe('review 7: federated client assertions across features', () => {
  const key: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let jwks: Server;
  let jwksBase: string;
  let database: TestDatabase;
  /** Two instances of one deployment (one PostgreSQL database), configured as docs/configuration.md shows for both uses. */
  let one: TestServer;
  let two: TestServer;
  let secondDir: string | undefined;
  const now = (): number => Math.floor(Date.now() / 1000);

  /** A projected service-account token for Tessera's URL (its issuer), as the documented configuration asks for both uses. */
  const kubernetesToken = (server: TestServer, namespace: string, account: string, claims: JWTPayload = {}): Promise<string> => {
    const issuedAt = now();
    return new SignJWT({
      iss: KUBERNETES,
      sub: `system:serviceaccount:${namespace}:${account}`,
      aud: [server.server.config.issuer],
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + 600,
      jti: randomUUID(),
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'k8s-1' })
      .sign(key.privateKey);
  };
  const post = (server: TestServer, path: string, params: Record<string, string>, authorization?: string): Promise<TestResponse> =>
    server.send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
      body: new URLSearchParams(params).toString(),
    });
  const withAssertion = (server: TestServer, jwt: string, extra: Record<string, string> = {}): Promise<TestResponse> =>
    post(server, '/oauth2/token', {
      grant_type: 'client_credentials',
      scope: 'beta:domain',
      client_assertion_type: JWT_BEARER,
      client_assertion: jwt,
      ...extra,
    });
  /** POST /ca/v1/certificates with the oidc-token proof; the certificate and its key on 201. */
  const enroll = async (server: TestServer, jwt: string, principal: string) => {
    const keys = await newKeys();
    const res = await server.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csr(keys, principal), proof: { type: 'oidc-token', value: jwt } }),
    });
    return { res, keyPem: await exportPkcs8Pem(keys.privateKey) };
  };

  before(async () => {
    const set = { keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k8s-1', alg: 'RS256', use: 'sig' }] };
    jwks = createServer((request, response) => {
      if (request.url !== '/jwks') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(set));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksBase = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
    database = await createTestDatabase();
    const start = (dataDir?: string): Promise<TestServer> =>
      startTestServer({
        ...(dataDir === undefined ? {} : { dataDir }),
        flags: { database: database.url, issuer: ISSUER },
        env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
        edit: (config) => {
          config.oidcProofs = [
            {
              issuer: KUBERNETES,
              jwksUri: `${jwksBase}/jwks`,
              // docs/configuration.md: "for both uses, configure audience as that URL too".
              audience: config.issuer,
              claim: 'sub',
              pattern: K8S_PATTERN,
              uses: ['certificates', 'client-assertions'],
            },
          ];
        },
      });
    one = await start();
    // The second instance shares the database (its bootstrap admin is the first's).
    secondDir = await mkdtemp(join(tmpdir(), 'tessera-review7-'));
    await copyFile(join(one.dataDir, 'bootstrap-admin.json'), join(secondDir, 'bootstrap-admin.json'));
    two = await start(secondDir);
    for (const name of ['alpha', 'beta']) assert.equal((await one.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['api', 'worker']) assert.equal((await one.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    const members = [{ principal: 'alpha.api' }, { principal: 'alpha.worker' }];
    assert.equal((await one.admin$('PUT', '/domains/beta/roles/readers', { members, actors: ['alpha.worker'] })).status, 201);
  });
  after(async () => {
    await one?.stop();
    await two?.stop();
    if (secondDir) await rm(secondDir, { recursive: true, force: true });
    await database?.drop();
    await new Promise((resolve) => jwks.close(resolve));
  });

  describe('HOLE: the certificate proof of the same issuer replays what client authentication spent', () => {
    it('refuses at the certificate proof an assertion already spent at the token endpoint (it would yield a certificate, then tokens by tls_client_auth)', async () => {
      const jwt = await kubernetesToken(one, 'alpha', 'api');
      const first = await withAssertion(one, jwt);
      assert.equal(first.status, 200, first.text);
      assert.equal((await withAssertion(one, jwt)).status, 401, 'spent: a second client authentication is refused');
      // The same token, stolen after use (from a log, a core dump, the pod's volume), at the CA:
      const { res, keyPem } = await enroll(one, jwt, 'alpha.api');
      if (res.status === 201) {
        // Show what the thief gets: a certificate, and with it tokens until the certificate expires.
        const stolen = await postForm(
          one,
          { grant_type: 'client_credentials', scope: 'beta:domain' },
          { client: { certPem: res.json.certificate, keyPem } as never },
        );
        assert.fail(
          `the spent assertion got a certificate for alpha.api (${res.status}), and with it a token by tls_client_auth: ` +
            `${stolen.status} ${stolen.status === 200 ? decodeJwt(stolen.json.access_token).sub : stolen.text}`,
        );
      }
      assert.equal(res.status, 401, res.text);
    });

    it('refuses at the token endpoint an assertion already presented to the certificate proof', async () => {
      const jwt = await kubernetesToken(one, 'alpha', 'worker');
      const { res } = await enroll(one, jwt, 'alpha.worker');
      assert.equal(res.status, 201, res.text);
      const replayed = await withAssertion(one, jwt);
      assert.equal(replayed.status, 401, `the token the workload gave the CA authenticates a client too: ${replayed.status} ${replayed.text.slice(0, 200)}`);
    });
  });

  describe('refused correctly (regression guards)', () => {
    it('refuses an assertion spent at one instance when it is replayed at another sharing the database', async () => {
      const jwt = await kubernetesToken(one, 'alpha', 'api', { aud: [ISSUER, `${ISSUER}/oauth2/token`] });
      assert.equal((await withAssertion(one, jwt)).status, 200);
      const replay = await withAssertion(two, jwt);
      assert.equal(replay.status, 401, replay.text);
      assert.match(replay.json.error_description, /assertion already used/);
    });

    it('accepts one of many concurrent uses of one assertion, across both instances', async () => {
      const jwt = await kubernetesToken(one, 'alpha', 'api', { aud: [ISSUER, `${ISSUER}/oauth2/token`] });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => withAssertion(i % 2 === 0 ? one : two, jwt)));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401, 401, 401, 401, 401, 401]);
    });

    it('refuses a token for another deployment (aud names another Tessera)', async () => {
      const jwt = await kubernetesToken(one, 'alpha', 'api', { aud: ['https://tessera.elsewhere.test', 'https://tessera.review7.test.evil'] });
      assert.equal((await withAssertion(one, jwt)).status, 401);
    });

    it('refuses mapping tricks: a trailing newline, a dotted account, an extra segment, a client_id of another service', async () => {
      for (const sub of [
        'system:serviceaccount:alpha:api\n',
        'system:serviceaccount:alpha:x.api',
        'system:serviceaccount:alpha:api:extra',
        'system:serviceaccount:sys.auth:bootstrap',
      ]) {
        const res = await withAssertion(one, await kubernetesToken(one, 'x', 'y', { sub }));
        assert.equal(res.status, 401, `${JSON.stringify(sub)}: ${res.text}`);
      }
      const res = await withAssertion(one, await kubernetesToken(one, 'alpha', 'api'), { client_id: 'alpha.worker' });
      assert.equal(res.status, 401, res.text);
    });

    it('refuses a federated assertion as a subject_token, and a Tessera access token as a client assertion', async () => {
      const ok = await withAssertion(one, await kubernetesToken(one, 'alpha', 'worker'));
      assert.equal(ok.status, 200, ok.text);
      const access = ok.json.access_token as string;
      // alpha.worker exchanges an external token as if it were Tessera's.
      const exchange = await post(one, '/oauth2/token', {
        grant_type: GRANT,
        subject_token: await kubernetesToken(one, 'alpha', 'api'),
        subject_token_type: AT,
        scope: 'beta:role.readers',
        client_assertion_type: JWT_BEARER,
        client_assertion: await kubernetesToken(one, 'alpha', 'worker'),
      });
      assert.equal(exchange.status, 400, exchange.text);
      assert.equal(exchange.json.error, 'invalid_grant');
      const asAssertion = await withAssertion(one, access);
      assert.equal(asAssertion.status, 401, asAssertion.text);
    });

    it('answers 401 (never 500) for malformed federated assertions', async () => {
      const head = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k8s-1' })).toString('base64url');
      const bodies: unknown[] = [
        { iss: KUBERNETES, sub: 'system:serviceaccount:alpha:api', aud: one.server.config.issuer, exp: 'soon', jti: 'x' },
        { iss: KUBERNETES, sub: 'system:serviceaccount:alpha:api', aud: [{}], exp: now() + 60, jti: 'x' },
        { iss: KUBERNETES, sub: { a: 1 }, aud: one.server.config.issuer, exp: now() + 60, jti: 'x' },
        { iss: KUBERNETES, sub: 'system:serviceaccount:alpha:api', aud: one.server.config.issuer, exp: 1e308, iat: -1e308, jti: 'x' },
        { iss: KUBERNETES, sub: 'system:serviceaccount:alpha:api', aud: one.server.config.issuer, exp: now() + 60, jti: ['x'] },
        [1, 2, 3],
      ];
      for (const body of bodies) {
        const jwt = `${head}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.c2ln`;
        const res = await withAssertion(one, jwt);
        assert.equal(res.status, 401, `${JSON.stringify(body)}: ${res.text}`);
      }
      // Basic and an assertion at once: one method only.
      const both = await post(
        one,
        '/oauth2/token',
        {
          grant_type: 'client_credentials',
          scope: 'beta:domain',
          client_assertion_type: JWT_BEARER,
          client_assertion: await kubernetesToken(one, 'alpha', 'api'),
        },
        basic('alpha.api', 'x'),
      );
      assert.ok(both.status === 400 || both.status === 401, both.text);
    });
  });
});

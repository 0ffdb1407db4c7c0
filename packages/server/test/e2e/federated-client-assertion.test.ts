// Federated client assertions (RFC 7523 §3, RFC 7521 §4.2) over real HTTPS: a workload presents a
// token from a configured external issuer (a Kubernetes service-account token, a SPIFFE JWT-SVID,
// a CI provider's OIDC token) as client_assertion, verified against that issuer's JWKS (served by
// a local HTTP server here) and mapped to a principal by configuration. Every way such a token can
// be wrong, forged, replayed or meant for something else is refused with 401 invalid_client AUTH_101.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { freePort } from '@tessera/testkit/port';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const KUBERNETES = 'https://kubernetes.default.svc.cluster.local';
/** A cluster whose tokens carry no jti (before Kubernetes 1.29): replays are refused by token hash. */
const OLD_CLUSTER = 'https://old-cluster.example';
const SPIRE = 'https://oidc.spire.example.org';
const CI = 'https://token.actions.example';
const CERTIFICATES_ONLY = 'https://certificates-only.example';
const DOWN = 'https://down.example';
const BROKEN = 'https://broken.example';
const GARBLED = 'https://garbled.example';
const K8S_PATTERN = '^system:serviceaccount:(?<domain>[a-z0-9-]+):(?<service>[a-z0-9-]+)$';
const UNTRUSTED = /its issuer '[^']+' is not trusted for client authentication; an operator must list it in oidcProofs with 'client-assertions' in its uses/;
const NOT_MAPPED = /is not mapped to a client of this server.*; check the issuer's principals or pattern in oidcProofs, and that the service is registered$/;

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };

function assertRejected(res: TestResponse, description: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_client', res.text);
  assert.equal(res.json.error_code, 'AUTH_101', res.text);
  assert.match(res.json.error_description, /^client assertion rejected: /);
  assert.match(res.json.error_description, description);
  assert.equal(res.headers['cache-control'], 'no-store');
}

const claimsOf = (jwt: string): JWTPayload => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as JWTPayload;

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`federated client assertions (external issuers at the token endpoint, ${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let jwks: Server;
    let tokenEndpoint: string;
    const keys: Record<'k8s' | 'spire' | 'ci' | 'stranger', KeyPair> = {
      k8s: generateKeyPairSync('rsa', { modulusLength: 2048 }),
      spire: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      ci: generateKeyPairSync('rsa', { modulusLength: 2048 }),
      stranger: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    };
    const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = (): number => Math.floor(Date.now() / 1000);

    interface TokenOptions {
      key?: KeyObject;
      alg?: string;
      kid?: string;
      omit?: string[];
    }
    const sign = (claims: JWTPayload, options: TokenOptions = {}): Promise<string> => {
      const body = { ...claims };
      for (const name of options.omit ?? []) delete body[name];
      return new SignJWT(body).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'k8s-1' }).sign(options.key ?? keys.k8s.privateKey);
    };

    /** A projected service-account token as a kubelet mounts it (Kubernetes ≥ 1.29: with a jti). */
    const kubernetesToken = (namespace: string, account: string, claims: JWTPayload = {}, options: TokenOptions = {}): Promise<string> => {
      const issuedAt = now();
      return sign(
        {
          aud: [tokenEndpoint],
          exp: issuedAt + 3600,
          iat: issuedAt,
          nbf: issuedAt,
          iss: KUBERNETES,
          jti: randomUUID(),
          'kubernetes.io': {
            namespace,
            node: { name: 'node-1', uid: randomUUID() },
            pod: { name: `${account}-7d9f8c-x2x4q`, uid: randomUUID() },
            serviceaccount: { name: account, uid: randomUUID() },
          },
          sub: `system:serviceaccount:${namespace}:${account}`,
          ...claims,
        },
        options,
      );
    };
    /**
     * A JWT-SVID as SPIRE makes it with jwt_issuer set: sub, aud, exp, iat; no jti. Without a jti two
     * made in the same second are one token to the replay check: each gets its own iat here.
     */
    let svids = 0;
    const svid = (path: string, claims: JWTPayload = {}, options: TokenOptions = {}): Promise<string> => {
      svids += 1;
      const claimSet = { iss: SPIRE, sub: `spiffe://example.org${path}`, aud: [t.url], exp: now() + 300, iat: now() - svids, ...claims };
      return sign(claimSet, { key: keys.spire.privateKey, alg: 'ES256', kid: 'spire-1', ...options });
    };
    const ciToken = (claims: JWTPayload = {}): Promise<string> =>
      sign(
        {
          iss: CI,
          sub: 'repo:acme/billing:ref:refs/heads/main',
          repository: 'acme/billing',
          ref: 'refs/heads/main',
          aud: tokenEndpoint,
          exp: now() + 300,
          iat: now(),
          jti: randomUUID(),
          ...claims,
        },
        { key: keys.ci.privateKey, kid: 'ci-1' },
      );

    const post = (path: string, params: Record<string, string>): Promise<TestResponse> =>
      t.send(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
    const withAssertion = (jwt: string, extra: Record<string, string> = {}): Promise<TestResponse> =>
      post('/oauth2/token', { grant_type: 'client_credentials', scope: 'beta:domain', client_assertion_type: JWT_BEARER, client_assertion: jwt, ...extra });

    function assertIssuedTo(res: TestResponse, principal: string): void {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.token_type, 'Bearer');
      assert.equal(res.json.scope, 'beta:role.readers');
      assert.equal(claimsOf(res.json.access_token).sub, principal);
    }

    before(async () => {
      const jwk = async (pair: KeyPair, kid: string, alg: string) => ({ ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' });
      const sets: Record<string, unknown> = {
        '/k8s/openid/v1/jwks': { keys: [await jwk(keys.k8s, 'k8s-1', 'RS256')] },
        '/spire/keys': { keys: [await jwk(keys.spire, 'spire-1', 'ES256')] },
        '/ci/.well-known/jwks': { keys: [await jwk(keys.ci, 'ci-1', 'RS256')] },
      };
      jwks = createServer((request, response) => {
        if (request.url === '/broken') return void response.writeHead(500).end('oops');
        if (request.url === '/garbled') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "none"}');
        const set = sets[request.url ?? ''];
        if (set === undefined) return void response.writeHead(404).end();
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(set));
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
      const closedPort = await freePort();

      if (backend === 'postgres') database = await createTestDatabase();
      t = await startTestServer({
        ...(database ? { flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } } : {}),
        edit: (config) => {
          const both = ['certificates', 'client-assertions'] as ('certificates' | 'client-assertions')[];
          const clients = ['client-assertions'] as 'client-assertions'[];
          config.oidcProofs = [
            { issuer: KUBERNETES, jwksUri: `${base}/k8s/openid/v1/jwks`, audience: 'tessera', claim: 'sub', pattern: K8S_PATTERN, uses: both },
            {
              issuer: OLD_CLUSTER,
              jwksUri: `${base}/k8s/openid/v1/jwks`,
              audience: 'tessera',
              claim: 'sub',
              pattern: '^system:serviceaccount:(?<domain>[^:]+):(?<service>[^:]+)$',
              uses: clients,
              replay: 'token-hash',
            },
            {
              issuer: SPIRE,
              jwksUri: `${base}/spire/keys`,
              audience: 'tessera',
              claim: 'sub',
              pattern: '^spiffe://example\\.org/ns/(?<domain>[^/]+)/sa/(?<service>[^/]+)$',
              uses: clients,
              replay: 'token-hash',
              maxLifetime: 600,
            },
            {
              issuer: CI,
              jwksUri: `${base}/ci/.well-known/jwks`,
              audience: 'tessera',
              claim: 'repository',
              principals: { 'acme/billing': 'alpha.billing' },
              uses: clients,
            },
            { issuer: CERTIFICATES_ONLY, jwksUri: `${base}/k8s/openid/v1/jwks`, audience: 'tessera', claim: 'sub', pattern: K8S_PATTERN },
            { issuer: DOWN, jwksUri: `http://127.0.0.1:${closedPort}/jwks`, audience: 'tessera', claim: 'sub', pattern: K8S_PATTERN, uses: clients },
            { issuer: BROKEN, jwksUri: `${base}/broken`, audience: 'tessera', claim: 'sub', pattern: K8S_PATTERN, uses: clients },
            { issuer: GARBLED, jwksUri: `${base}/garbled`, audience: 'tessera', claim: 'sub', pattern: K8S_PATTERN, uses: clients },
          ];
        },
      });
      tokenEndpoint = `${t.url}/oauth2/token`;
      for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      const services: [string, Record<string, unknown>][] = [
        ['api', {}],
        ['billing', {}],
        ['worker', {}],
        ['off', {}],
        ['fenced', { allowedIps: ['10.9.9.0/24'] }],
        ['keyed', { publicKeys: [{ kid: 'ec1', pem: registered.publicKey.export({ type: 'spki', format: 'pem' }).toString() }] }],
      ];
      for (const [name, body] of services) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name, ...body })).status, 201);
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
      const members = services.map(([name]) => ({ principal: `alpha.${name}` }));
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
    });
    after(async () => {
      await t.stop();
      await database?.drop();
      await new Promise((resolve) => jwks.close(resolve));
    });

    describe('accepted', () => {
      it('a Kubernetes service-account token gets a token for the principal its subject maps to', async () => {
        const res = await withAssertion(await kubernetesToken('alpha', 'api'));
        assertIssuedTo(res, 'alpha.api');
        assert.equal(claimsOf(res.json.access_token)['client_id'], 'alpha.api');
      });

      it('with a client_id parameter naming the mapped client, and at the Athenz token path', async () => {
        assertIssuedTo(await withAssertion(await kubernetesToken('alpha', 'api'), { client_id: 'alpha.api' }), 'alpha.api');
        const res = await post('/zts/v1/oauth2/token', {
          grant_type: 'client_credentials',
          scope: 'beta:domain',
          client_assertion_type: JWT_BEARER,
          client_assertion: await kubernetesToken('alpha', 'api', { aud: `${t.url}/zts/v1/oauth2/token` }),
        });
        assertIssuedTo(res, 'alpha.api');
      });

      it("this server's issuer as aud, among others", async () => {
        assertIssuedTo(await withAssertion(await kubernetesToken('alpha', 'api', { aud: ['https://vault.example', t.url] })), 'alpha.api');
      });

      it('a SPIFFE JWT-SVID (no jti, no nbf) gets a token for the principal its SPIFFE ID maps to', async () => {
        assertIssuedTo(await withAssertion(await svid('/ns/alpha/sa/worker')), 'alpha.worker');
      });

      it("a CI provider's OIDC token, mapped by the exact principals table on another claim", async () => {
        assertIssuedTo(await withAssertion(await ciToken()), 'alpha.billing');
      });

      it('a token without jti from an issuer configured with replay "token-hash"', async () => {
        assertIssuedTo(await withAssertion(await kubernetesToken('alpha', 'api', { iss: OLD_CLUSTER }, { omit: ['jti'] })), 'alpha.api');
      });

      it('registered-key private_key_jwt still works next to federated issuers', async () => {
        const jwt = await new SignJWT({ iss: 'alpha.keyed', sub: 'alpha.keyed', aud: tokenEndpoint, iat: now(), exp: now() + 60, jti: randomUUID() })
          .setProtectedHeader({ alg: 'ES256', kid: 'ec1' })
          .sign(registered.privateKey);
        assertIssuedTo(await withAssertion(jwt), 'alpha.keyed');
      });
    });

    describe('replay', () => {
      it('refuses the same Kubernetes token twice (by jti)', async () => {
        const jwt = await kubernetesToken('alpha', 'api');
        assertIssuedTo(await withAssertion(jwt), 'alpha.api');
        assertRejected(await withAssertion(jwt), /assertion already used \(its jti was seen before\)/);
      });

      it('refuses the same jti in another token of the same issuer', async () => {
        const jti = randomUUID();
        assertIssuedTo(await withAssertion(await kubernetesToken('alpha', 'api', { jti })), 'alpha.api');
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { jti, iat: now() - 1, exp: now() + 600 })), /its jti was seen before/);
      });

      it('refuses the same JWT-SVID twice (by token hash)', async () => {
        const jwt = await svid('/ns/alpha/sa/worker');
        assertIssuedTo(await withAssertion(jwt), 'alpha.worker');
        assertRejected(await withAssertion(jwt), /assertion already used \(this exact token was seen before\)/);
      });

      it('refuses the same JWT-SVID with its signature encoded otherwise (spare base64url bits, ECDSA s → n − s)', async () => {
        const jwt = await svid('/ns/alpha/sa/worker');
        assertIssuedTo(await withAssertion(jwt), 'alpha.worker');
        const [head, body, signature] = jwt.split('.') as [string, string, string];
        // 64 bytes make 86 characters, the last carrying 2 bits and 4 spare ones.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(signature.at(-1)!);
        const respelt = `${signature.slice(0, -1)}${alphabet[last | 0b0101]}`;
        assert.notEqual(respelt, signature);
        assert.deepEqual(Buffer.from(respelt, 'base64url'), Buffer.from(signature, 'base64url'));
        assertRejected(await withAssertion(`${head}.${body}.${respelt}`), /assertion already used \(this exact token was seen before\)/);
        const bytes = Buffer.from(signature, 'base64url');
        const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
        const highS = (n - BigInt(`0x${bytes.subarray(32).toString('hex')}`)).toString(16).padStart(64, '0');
        const malleated = Buffer.concat([bytes.subarray(0, 32), Buffer.from(highS, 'hex')]).toString('base64url');
        assertRejected(await withAssertion(`${head}.${body}.${malleated}`), /assertion already used|not signed by a key/);
      });

      it('refuses a token without jti from an issuer that refuses replays by jti', async () => {
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', {}, { omit: ['jti'] })),
          /jti is required: issuer https:\/\/kubernetes\.default\.svc\.cluster\.local is configured to refuse replays by jti/,
        );
      });

      it('does not spend the token when it is refused before the end (a wrong client_id)', async () => {
        const jwt = await kubernetesToken('alpha', 'api');
        assertRejected(await withAssertion(jwt, { client_id: 'alpha.billing' }), /client_id parameter/);
        assertIssuedTo(await withAssertion(jwt), 'alpha.api');
      });
    });

    describe('audience and time', () => {
      it("refuses a token minted for the certificate proof's audience", async () => {
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', { aud: 'tessera' })),
          /aud must name this server: its token endpoint https:\/\/127\.0\.0\.1:\d+\/oauth2\/token or its issuer/,
        );
      });

      it('refuses a token minted for another service', async () => {
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', { aud: ['https://vault.example', 'https://kubernetes.default.svc'] })),
          /aud must name this server/,
        );
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { aud: `${t.url}/oauth2/introspect` })), /aud must name this server/);
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', {}, { omit: ['aud'] })), /aud must name this server/);
      });

      it('refuses an expired token', async () => {
        const past = now() - 7200;
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', { iat: past, nbf: past, exp: past + 3600 })),
          /it expired at .*; present a fresh token from the issuer/,
        );
      });

      it('refuses a token without exp', async () => {
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', {}, { omit: ['exp'] })), /exp is required/);
      });

      it("refuses a token valid for longer than the issuer's maxLifetime (1 h by default)", async () => {
        const issued = now() - 60;
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', { iat: issued, nbf: issued, exp: issued + 3601 })),
          /it is valid for 3601 s, longer than the 3600 s this server accepts from issuer https:\/\/kubernetes\.default\.svc\.cluster\.local/,
        );
        // Kubernetes' year-long "extended" tokens too.
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { exp: now() + 365 * 86_400 })), /longer than the 3600 s/);
        // Without iat, measured from now.
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { exp: now() + 7200 }, { omit: ['iat', 'nbf'] })), /longer than the 3600 s/);
      });

      it('honours a shorter maxLifetime configured for an issuer', async () => {
        assertRejected(
          await withAssertion(await svid('/ns/alpha/sa/worker', { iat: now(), exp: now() + 900 })),
          /it is valid for 900 s, longer than the 600 s/,
        );
      });

      it('refuses a token not valid yet, or issued in the future', async () => {
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { nbf: now() + 600 })), /it is not valid before/);
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { iat: now() + 600, nbf: now() })), /it was issued in the future/);
      });

      it('refuses a token without sub', async () => {
        assertRejected(await withAssertion(await ciToken({ sub: undefined })), /sub is required/);
      });
    });

    describe('issuers and signatures', () => {
      it('refuses a token of an unknown issuer', async () => {
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { iss: 'https://evil.example' })), UNTRUSTED);
      });

      it('refuses a token of an issuer trusted for certificates only, with the same answer', async () => {
        const jwt = await kubernetesToken('alpha', 'api', { iss: CERTIFICATES_ONLY });
        assertRejected(await withAssertion(jwt), UNTRUSTED);
        // The same token does prove the principal for a certificate there.
        const res = await t.send('/ca/v1/certificates', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            csr: await csrFor(await serviceKey('ec')),
            proof: { type: 'oidc-token', value: await kubernetesToken('alpha', 'api', { iss: CERTIFICATES_ONLY, aud: 'tessera' }) },
          }),
        });
        assert.equal(res.status, 201, res.text);
      });

      it('does not let the certificate proof use an issuer trusted for client assertions only', async () => {
        const res = await t.send('/ca/v1/certificates', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            csr: await csrFor(await serviceKey('ec')),
            proof: { type: 'oidc-token', value: await svid('/ns/alpha/sa/worker', { aud: 'tessera' }) },
          }),
        });
        assert.equal(res.status, 401, res.text);
        assert.match(res.json.message, /not one this server trusts for certificates/);
      });

      it('refuses a token signed by a key the issuer does not publish, under its kid or another', async () => {
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', {}, { key: keys.stranger.privateKey })),
          /it is not signed by a key that issuer https:\/\/kubernetes\.default\.svc\.cluster\.local publishes/,
        );
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api', {}, { key: keys.stranger.privateKey, kid: 'other' })),
          /it is not signed by a key that issuer/,
        );
      });

      it("refuses a token claiming one issuer but signed by another issuer's key", async () => {
        // Signed by SPIRE's key, under SPIRE's kid, claiming to be the Kubernetes issuer.
        const forged = await kubernetesToken('alpha', 'api', {}, { key: keys.spire.privateKey, alg: 'ES256', kid: 'spire-1' });
        assertRejected(await withAssertion(forged), /it is not signed by a key that issuer https:\/\/kubernetes\.default\.svc\.cluster\.local publishes/);
        // And the other way round: the Kubernetes issuer's key does not sign for SPIRE.
        assertRejected(
          await withAssertion(await svid('/ns/alpha/sa/worker', {}, { key: keys.k8s.privateKey, alg: 'RS256', kid: 'k8s-1' })),
          /not signed by a key that issuer https:\/\/oidc\.spire/,
        );
      });

      it('refuses alg none and HMAC', async () => {
        const header = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
        const body = header({ iss: KUBERNETES, sub: 'system:serviceaccount:alpha:api', aud: tokenEndpoint, exp: now() + 60, iat: now(), jti: randomUUID() });
        assertRejected(await withAssertion(`${header({ alg: 'none' })}.${body}.`), /alg 'none' is never accepted/);
        const hmac = await sign(claimsOf(`x.${body}.x`), { key: randomBytes(32) as unknown as KeyObject, alg: 'HS256' });
        assertRejected(await withAssertion(hmac), /alg 'HS256' \(HMAC\) is never accepted/);
      });

      it('refuses a token that is not a JWT', async () => {
        // Not decodable: read as a registered-key assertion, which says what it must be.
        assertRejected(await withAssertion('eyJ.not.a-jwt'), /not a signed JWT/);
      });
    });

    describe('mapping and the client', () => {
      it("refuses a subject the issuer's pattern does not map", async () => {
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { sub: 'user:bob' })), NOT_MAPPED);
        assertRejected(await withAssertion(await kubernetesToken('alpha', 'api', { sub: 'system:serviceaccount:alpha:api:extra' })), NOT_MAPPED);
      });

      it('refuses SPIFFE IDs with path tricks', async () => {
        const tricks = [
          '/ns/alpha/sa/worker/../../ns/sys/sa/admin',
          '/ns/alpha/sa/worker/extra',
          '/ns/../sa/worker',
          '/ns/alpha%2Fx/sa/worker',
          '/ns/alpha/sa/',
        ];
        for (const path of tricks) {
          assertRejected(await withAssertion(await svid(path)), NOT_MAPPED);
        }
        // Another trust domain that starts like ours.
        assertRejected(await withAssertion(await svid('/ns/alpha/sa/worker', { sub: 'spiffe://example.org.evil/ns/alpha/sa/worker' })), NOT_MAPPED);
      });

      it('refuses a service-account name with a dot, which would name a service of another domain', async () => {
        // Namespace "sys" + account "auth.admin" must not become the bootstrap admin sys.auth.admin.
        const jwt = await kubernetesToken('sys', 'auth.admin', { iss: OLD_CLUSTER }, { omit: ['jti'] });
        assertRejected(await withAssertion(jwt), /\(its service 'auth\.admin' is not a service name/);
      });

      it('refuses a token without the configured claim', async () => {
        assertRejected(await withAssertion(await ciToken({ repository: undefined })), /it has no string claim 'repository'/);
        assertRejected(await withAssertion(await ciToken({ repository: 'acme/billing-fork' })), NOT_MAPPED);
        // Names every object has are not entries of the table.
        for (const repository of ['constructor', '__proto__', 'toString']) assertRejected(await withAssertion(await ciToken({ repository })), NOT_MAPPED);
      });

      it('refuses a mapped principal with no service, as it refuses an unmapped subject', async () => {
        const res = await withAssertion(await kubernetesToken('alpha', 'ghost'));
        assertRejected(res, NOT_MAPPED);
        assert.match(
          res.json.error_description,
          /sub 'system:serviceaccount:alpha:ghost' of issuer https:\/\/kubernetes\.default\.svc\.cluster\.local is not mapped/,
        );
        assert.doesNotMatch(res.json.error_description, /exist|disabled/);
      });

      it('refuses a client_id parameter other than the mapped client, the same whether that service exists or not', async () => {
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'api'), { client_id: 'alpha.billing' }),
          /the client_id parameter \('alpha\.billing'\) is not the client the assertion maps to \(alpha\.api\)/,
        );
        assertRejected(
          await withAssertion(await kubernetesToken('alpha', 'ghost'), { client_id: 'alpha.api' }),
          /is not the client the assertion maps to \(alpha\.ghost\)/,
        );
      });

      it("checks the mapped service's standing: disabled is AUTH_103, outside its allowedIps AUTH_104", async () => {
        const off = await withAssertion(await kubernetesToken('alpha', 'off'));
        assert.equal(off.status, 401, off.text);
        assert.equal(off.json.error, 'invalid_client');
        assert.equal(off.json.error_code, 'AUTH_103');
        const fenced = await withAssertion(await kubernetesToken('alpha', 'fenced'));
        assert.equal(fenced.status, 403, fenced.text);
        assert.equal(fenced.json.error_code, 'AUTH_104');
      });
    });

    describe("the issuer's keys unavailable", () => {
      for (const [what, issuer] of [
        ['unreachable', DOWN],
        ['answering 500', BROKEN],
        ['not a key set', GARBLED],
      ] as const) {
        it(`answers 503 temporarily_unavailable with Retry-After when its JWKS is ${what}`, async () => {
          const res = await withAssertion(await kubernetesToken('alpha', 'api', { iss: issuer }));
          assert.equal(res.status, 503, res.text);
          assert.equal(res.json.error, 'temporarily_unavailable');
          assert.equal(res.headers['retry-after'], '10');
          assert.match(
            res.json.error_description,
            new RegExp(`could not fetch the signing keys of issuer ${issuer.replaceAll('.', '\\.')}; this is not the client's fault, retry shortly`),
          );
          assert.doesNotMatch(res.json.error_description, /127\.0\.0\.1/);
        });
      }
    });
  });

// private_key_jwt (RFC 7523, OpenID Connect Core §9) over real HTTPS: services prove who they
// are with a JWT signed by a key registered on them, and every way an assertion can be wrong,
// forged or replayed is refused with 401 invalid_client AUTH_101.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { REACH_SECONDS } from '../../src/oauth2/key-removal.ts';
import { createServer as createHttpServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const NOT_PROVEN = /unknown client, or the assertion is not signed by a key registered for it/;

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };
const pemOf = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();
const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function assertRejected(res: TestResponse, description?: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_client', res.text);
  assert.equal(res.json.error_code, 'AUTH_101', res.text);
  assert.match(res.json.error_description, /^client assertion rejected: /);
  if (description) assert.match(res.json.error_description, description);
  assert.equal(res.headers['cache-control'], 'no-store');
}

function assertBadRequest(res: TestResponse, description: RegExp): void {
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error, 'invalid_request', res.text);
  assert.equal(res.json.error_code, undefined, res.text);
  assert.match(res.json.error_description, description);
}

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`private_key_jwt client authentication (${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let tokenEndpoint: string;
    const keys: Record<'ec' | 'p384' | 'ed' | 'rsa' | 'attacker', KeyPair> = {
      ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      p384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
      ed: generateKeyPairSync('ed25519'),
      rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
      attacker: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    };
    let secretOfMixed: string;

    interface AssertionOptions {
      clientId?: string;
      key?: KeyObject;
      alg?: string;
      kid?: string | null;
      header?: Record<string, unknown>;
      claims?: JWTPayload;
      omit?: string[];
    }

    /** A valid assertion for alpha.ec unless told otherwise. */
    async function assertion(options: AssertionOptions = {}): Promise<string> {
      const clientId = options.clientId ?? 'alpha.ec';
      const now = Math.floor(Date.now() / 1000);
      const claims: JWTPayload = { iss: clientId, sub: clientId, aud: tokenEndpoint, iat: now, exp: now + 60, jti: randomUUID(), ...options.claims };
      for (const name of options.omit ?? []) delete claims[name];
      const kid = options.kid === undefined ? 'ec1' : options.kid;
      const header = { alg: options.alg ?? 'ES256', ...(kid === null ? {} : { kid }), ...options.header };
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(options.key ?? keys.ec.privateKey);
    }

    const post = (params: Record<string, string>, headers: Record<string, string> = {}): Promise<TestResponse> =>
      t.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(params).toString(),
      });
    const withAssertion = (jwt: string, extra: Record<string, string> = {}): Promise<TestResponse> =>
      post({ grant_type: 'client_credentials', scope: 'beta:domain', client_assertion_type: JWT_BEARER, client_assertion: jwt, ...extra });

    before(async () => {
      if (backend === 'postgres') database = await createTestDatabase();
      t = database
        ? await startTestServer({ flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } })
        : await startTestServer();
      tokenEndpoint = `${t.url}/oauth2/token`;
      for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      const services: [string, Record<string, unknown>][] = [
        ['ec', { publicKeys: [{ kid: 'ec1', pem: pemOf(keys.ec.publicKey) }] }],
        ['ed', { publicKeys: [{ kid: 'ed1', pem: pemOf(keys.ed.publicKey) }] }],
        ['p384', { publicKeys: [{ kid: 'p1', pem: pemOf(keys.p384.publicKey) }] }],
        ['rsa', { publicKeys: [{ kid: 'rsa1', pem: pemOf(keys.rsa.publicKey) }] }],
        [
          'multi',
          {
            publicKeys: [
              { kid: 'm-ed', pem: pemOf(keys.ed.publicKey) },
              { kid: 'm-ec', pem: pemOf(keys.ec.publicKey) },
            ],
          },
        ],
        ['rotating', { publicKeys: [{ kid: 'r1', pem: pemOf(keys.ec.publicKey) }] }],
        ['off', { publicKeys: [{ kid: 'ec1', pem: pemOf(keys.ec.publicKey) }] }],
        ['mixed', { secret: true, publicKeys: [{ kid: 'ec1', pem: pemOf(keys.ec.publicKey) }] }],
      ];
      for (const [name, body] of services) {
        const res = await t.admin$('POST', '/domains/alpha/services', { name, ...body });
        assert.equal(res.status, 201, res.text);
        if (name === 'mixed') secretOfMixed = res.json.clientSecret;
      }
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
      const members = services.map(([name]) => ({ principal: `alpha.${name}` }));
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
    });
    after(async () => {
      await t.stop();
      await database?.drop();
    });

    describe('valid assertions', () => {
      const cases: [string, () => Promise<string>][] = [
        ['ES256 (EC P-256)', () => assertion()],
        ['ES384 (EC P-384)', () => assertion({ clientId: 'alpha.p384', key: keys.p384.privateKey, alg: 'ES384', kid: 'p1' })],
        ['EdDSA (Ed25519)', () => assertion({ clientId: 'alpha.ed', key: keys.ed.privateKey, alg: 'EdDSA', kid: 'ed1' })],
        ['Ed25519 (the fully-specified name of RFC 9864)', () => assertion({ clientId: 'alpha.ed', key: keys.ed.privateKey, alg: 'Ed25519', kid: 'ed1' })],
        ['RS256 (RSA)', () => assertion({ clientId: 'alpha.rsa', key: keys.rsa.privateKey, alg: 'RS256', kid: 'rsa1' })],
        ['PS256 (RSA)', () => assertion({ clientId: 'alpha.rsa', key: keys.rsa.privateKey, alg: 'PS256', kid: 'rsa1' })],
      ];
      for (const [name, make] of cases) {
        it(`issues a token for an assertion signed with ${name}`, async () => {
          const jwt = await make();
          const res = await withAssertion(jwt);
          assert.equal(res.status, 200, res.text);
          assert.equal(res.json.token_type, 'Bearer');
          assert.equal(res.json.scope, 'beta:role.readers');
          const claims = JSON.parse(Buffer.from(res.json.access_token.split('.')[1], 'base64url').toString()) as JWTPayload;
          const clientId = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).iss;
          assert.equal(claims.sub, clientId);
          assert.equal(claims['client_id'], clientId);
        });
      }

      it('tries every registered key when the assertion has no kid', async () => {
        const res = await withAssertion(await assertion({ clientId: 'alpha.multi', kid: null }));
        assert.equal(res.status, 200, res.text);
      });

      it('accepts the issuer and the Athenz token path as aud, and a matching client_id parameter', async () => {
        assert.equal((await withAssertion(await assertion({ claims: { aud: t.url } }))).status, 200);
        assert.equal((await withAssertion(await assertion({ claims: { aud: ['https://elsewhere.example', `${t.url}/zts/v1/oauth2/token`] } }))).status, 200);
        assert.equal((await withAssertion(await assertion(), { client_id: 'alpha.ec' })).status, 200);
      });

      it('accepts an assertion at the Athenz token path', async () => {
        const res = await t.send('/zts/v1/oauth2/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            scope: 'beta:domain',
            client_assertion_type: JWT_BEARER,
            client_assertion: await assertion(),
          }).toString(),
        });
        assert.equal(res.status, 200, res.text);
      });

      it('is advertised in discovery with the algorithms it accepts', async () => {
        const res = await t.send('/.well-known/oauth-authorization-server');
        assert.ok(res.json.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
        for (const alg of ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'])
          assert.ok(res.json.token_endpoint_auth_signing_alg_values_supported.includes(alg), alg);
        assert.ok(!res.json.token_endpoint_auth_signing_alg_values_supported.some((alg: string) => /^(none|HS)/i.test(alg)));
      });
    });

    describe('forged and unknown', () => {
      it('refuses an assertion signed by a key that is not registered', async () => {
        assertRejected(await withAssertion(await assertion({ key: keys.attacker.privateKey })), NOT_PROVEN);
      });

      it('answers an unknown client, an unknown kid and a bad signature with the very same body', async () => {
        const badSignature = await withAssertion(await assertion({ key: keys.attacker.privateKey }));
        const unknownKid = await withAssertion(await assertion({ kid: 'nope' }));
        const unknownClient = await withAssertion(await assertion({ clientId: 'alpha.nobody' }));
        for (const res of [badSignature, unknownKid, unknownClient]) assertRejected(res, NOT_PROVEN);
        assert.deepEqual(unknownKid.json, badSignature.json);
        assert.deepEqual(unknownClient.json, badSignature.json);
      });

      it('refuses a key registered on another service', async () => {
        // alpha.rsa does not hold the EC key; its kid is named but the key is the EC one.
        assertRejected(await withAssertion(await assertion({ clientId: 'alpha.rsa', kid: 'rsa1' })), NOT_PROVEN);
      });

      it('refuses an algorithm that does not fit the registered key', async () => {
        const rsaForEdKey = await assertion({ clientId: 'alpha.ed', key: keys.rsa.privateKey, alg: 'RS256', kid: 'ed1' });
        assertRejected(await withAssertion(rsaForEdKey), NOT_PROVEN);
      });

      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        it(`refuses an unsigned assertion (alg "${alg}")`, async () => {
          const now = Math.floor(Date.now() / 1000);
          const claims = { iss: 'alpha.ec', sub: 'alpha.ec', aud: tokenEndpoint, iat: now, exp: now + 60, jti: randomUUID() };
          assertRejected(await withAssertion(`${b64url({ alg, kid: 'ec1' })}.${b64url(claims)}.`), /alg 'none' is never accepted/);
        });
      }

      it('refuses HS256 signed with the registered public key PEM as the HMAC secret', async () => {
        const secret = new TextEncoder().encode(pemOf(keys.ec.publicKey));
        const now = Math.floor(Date.now() / 1000);
        const jwt = await new SignJWT({ iss: 'alpha.ec', sub: 'alpha.ec', aud: tokenEndpoint, iat: now, exp: now + 60, jti: randomUUID() })
          .setProtectedHeader({ alg: 'HS256', kid: 'ec1' })
          .sign(secret);
        assertRejected(await withAssertion(jwt), /alg 'HS256' is not accepted/);
      });

      it("ignores a jwk header that carries the attacker's key: the registered key decides", async () => {
        const jwk = await exportJWK(keys.attacker.publicKey);
        assertRejected(await withAssertion(await assertion({ key: keys.attacker.privateKey, header: { jwk } })), NOT_PROVEN);
        assertRejected(await withAssertion(await assertion({ key: keys.attacker.privateKey, kid: null, header: { jwk } })), NOT_PROVEN);
      });

      describe('with an attacker key server', () => {
        let attacker: Server;
        let hits = 0;
        let attackerUrl = '';
        before(async () => {
          const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.attacker.publicKey)), kid: 'ec1', alg: 'ES256', use: 'sig' }] });
          attacker = createHttpServer((_request, response) => {
            hits += 1;
            response.setHeader('content-type', 'application/json').end(jwks);
          });
          await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
          const address = attacker.address();
          attackerUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
        });
        after(() => new Promise<void>((resolve) => attacker.close(() => resolve())));

        it('never fetches or trusts a jku or x5u header', async () => {
          for (const header of [{ jku: attackerUrl }, { x5u: attackerUrl }]) {
            assertRejected(await withAssertion(await assertion({ key: keys.attacker.privateKey, header })), NOT_PROVEN);
          }
          assert.equal(hits, 0, 'the attacker URL was never fetched');
        });
      });

      it('stops accepting a replaced key at once and accepts its replacement', async () => {
        const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const old = () => assertion({ clientId: 'alpha.rotating', kid: 'r1' });
        const fresh = () => assertion({ clientId: 'alpha.rotating', kid: 'r1', key: next.privateKey });
        assert.equal((await withAssertion(await old())).status, 200);
        assert.equal((await t.admin$('PUT', '/domains/alpha/services/rotating/keys/r1', { pem: pemOf(next.publicKey) })).status, 200);
        assertRejected(await withAssertion(await old()), NOT_PROVEN);
        // A key removal ends the service's tokens of its second and of the REACH_SECONDS after it: none
        // is issued then (oauth2/key-removal.ts); Retry-After says how long is left.
        let res = await withAssertion(await fresh());
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json.error, 'temporarily_unavailable', res.text);
        const wait = Number(res.headers['retry-after']);
        assert.ok(wait >= REACH_SECONDS && wait <= REACH_SECONDS + 1, `Retry-After: ${String(res.headers['retry-after'])}`);
        await new Promise((resolve) => setTimeout(resolve, wait * 1000 - (Date.now() % 1000) + 5));
        res = await withAssertion(await fresh());
        assert.equal(res.status, 200, res.text);
        assert.equal((await t.admin$('DELETE', '/domains/alpha/services/rotating/keys/r1')).status, 204);
        assertRejected(await withAssertion(await fresh()), NOT_PROVEN);
      });

      it("still checks the service's standing: a disabled service is AUTH_103", async () => {
        const res = await withAssertion(await assertion({ clientId: 'alpha.off' }));
        assert.equal(res.status, 401, res.text);
        assert.equal(res.json.error_code, 'AUTH_103');
      });
    });

    describe('claims', () => {
      const now = () => Math.floor(Date.now() / 1000);

      it('refuses an expired assertion', async () => {
        const res = await withAssertion(await assertion({ claims: { iat: now() - 400, exp: now() - 200 } }));
        assertRejected(res, /expired at/);
      });

      it('refuses an assertion valid for more than 5 minutes, with or without iat', async () => {
        assertRejected(await withAssertion(await assertion({ claims: { exp: now() + 3600 } })), /longer than the 300 s allowed/);
        assertRejected(await withAssertion(await assertion({ claims: { exp: now() + 600 }, omit: ['iat'] })), /longer than the 300 s allowed/);
        assert.equal((await withAssertion(await assertion({ claims: { exp: now() + 300 } }))).status, 200);
      });

      it('refuses an assertion without exp or without jti', async () => {
        assertRejected(await withAssertion(await assertion({ omit: ['exp'] })), /exp is required/);
        assertRejected(await withAssertion(await assertion({ omit: ['jti'] })), /jti is required/);
        assertRejected(await withAssertion(await assertion({ claims: { jti: 'x'.repeat(257) } })), /jti is longer than 256/);
      });

      it('refuses a replayed assertion (same jti twice)', async () => {
        const jwt = await assertion();
        assert.equal((await withAssertion(jwt)).status, 200);
        assertRejected(await withAssertion(jwt), /assertion already used/);
        const sameJti = await assertion({ claims: { jti: JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).jti } });
        assertRejected(await withAssertion(sameJti), /assertion already used/);
      });

      it('does not burn a jti on an assertion whose signature fails', async () => {
        const jti = randomUUID();
        assertRejected(await withAssertion(await assertion({ key: keys.attacker.privateKey, claims: { jti } })), NOT_PROVEN);
        assert.equal((await withAssertion(await assertion({ claims: { jti } }))).status, 200);
      });

      it('refuses an assertion issued in the future or not yet valid', async () => {
        assertRejected(await withAssertion(await assertion({ claims: { iat: now() + 120, exp: now() + 200 } })), /issued in the future/);
        assertRejected(await withAssertion(await assertion({ claims: { nbf: now() + 120, exp: now() + 200 } })), /not valid before/);
      });

      it('refuses a wrong audience', async () => {
        for (const aud of ['https://elsewhere.example/oauth2/token', `${t.url}/oauth2/introspect`, ['a', 'b']]) {
          assertRejected(await withAssertion(await assertion({ claims: { aud } })), /aud must name this token endpoint/);
        }
        assertRejected(await withAssertion(await assertion({ omit: ['aud'] })), /aud must name this token endpoint/);
      });

      it('refuses iss different from sub, and a client_id parameter different from both', async () => {
        assertRejected(await withAssertion(await assertion({ claims: { sub: 'alpha.ed' } })), /iss and sub must both be the client_id/);
        assertRejected(await withAssertion(await assertion({ omit: ['iss'] })), /iss and sub must both be the client_id/);
        assertRejected(await withAssertion(await assertion(), { client_id: 'alpha.ed' }), /differ from the client_id parameter/);
      });

      it('refuses control characters in iss or jti as a client error, never a 500', async () => {
        const unknown = await withAssertion(await assertion({ clientId: 'alpha.nobody' }));
        const nulIss = await withAssertion(await assertion({ clientId: 'alpha.e\u0000c' }));
        assertRejected(nulIss, NOT_PROVEN);
        assert.deepEqual(nulIss.json, unknown.json);
        assertRejected(await withAssertion(await assertion({ claims: { jti: 'a\u0000b' } })), /jti must not contain control characters/);
      });

      it('refuses a crit header it does not understand', async () => {
        // Signed by hand: jose, rightly, will not sign with a crit it does not know either.
        const claims = { iss: 'alpha.ec', sub: 'alpha.ec', aud: tokenEndpoint, iat: now(), exp: now() + 60, jti: randomUUID() };
        const input = `${b64url({ alg: 'ES256', kid: 'ec1', crit: ['x-policy'], 'x-policy': 'strict' })}.${b64url(claims)}`;
        const signature = sign('sha256', Buffer.from(input), { key: keys.ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
        assertRejected(await withAssertion(`${input}.${signature}`), /critical \(crit\)/);
      });

      it('refuses an assertion larger than 8 KiB and one that is not a JWS', async () => {
        assertRejected(await withAssertion(await assertion({ claims: { pad: 'x'.repeat(9000) } })), /larger than 8 KiB/);
        assertRejected(await withAssertion('not-a-jwt'), /not a signed JWT/);
        assertRejected(await withAssertion('a.b.c.d.e'), /not a signed JWT/);
        assertRejected(await withAssertion(`${b64url({ alg: 'ES256' })}.bm90IGpzb24.c2ln`), /payload is not a JSON object/);
      });
    });

    describe('request shape', () => {
      it('400 for a wrong client_assertion_type', async () => {
        const jwt = await assertion();
        for (const type of ['urn:ietf:params:oauth:client-assertion-type:saml2-bearer', 'jwt-bearer', `${JWT_BEARER} `]) {
          assertBadRequest(
            await withAssertion(jwt, { client_assertion_type: type }),
            /client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer/,
          );
        }
      });

      it('400 for an assertion without its type, or a type without an assertion', async () => {
        const jwt = await assertion();
        assertBadRequest(await post({ grant_type: 'client_credentials', scope: 'beta:domain', client_assertion: jwt }), /without client_assertion_type/);
        // RFC 6749 §3.1: an empty parameter counts as omitted.
        assertBadRequest(await withAssertion(jwt, { client_assertion_type: '' }), /without client_assertion_type/);
        assertBadRequest(
          await post({ grant_type: 'client_credentials', scope: 'beta:domain', client_assertion_type: JWT_BEARER }),
          /without client_assertion;/,
        );
      });

      it('400 for an assertion together with client_secret or with HTTP Basic (two methods at once)', async () => {
        const both = await withAssertion(await assertion({ clientId: 'alpha.mixed' }), { client_id: 'alpha.mixed', client_secret: secretOfMixed });
        assertBadRequest(both, /client_secret_post and private_key_jwt at once/);
        const withBasic = await post(
          {
            grant_type: 'client_credentials',
            scope: 'beta:domain',
            client_assertion_type: JWT_BEARER,
            client_assertion: await assertion({ clientId: 'alpha.mixed' }),
          },
          { authorization: basic('alpha.mixed', secretOfMixed) },
        );
        assertBadRequest(withBasic, /client_secret_basic and private_key_jwt at once/);
        assert.equal((await withAssertion(await assertion({ clientId: 'alpha.mixed' }))).status, 200, 'the assertion alone works');
      });
    });
  });

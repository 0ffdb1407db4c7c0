// Tessera builds the JWS of its own tokens itself (oauth2/tokens.ts); for every signing
// algorithm, signed on the event loop or on the thread pool, jose must verify the access and ID
// tokens against the published JWKS, with the exact protected header and claims.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { signsOnEventLoop } from '../../src/server.ts';

/** Signature length in bytes: ES256 is R || S (RFC 7518 §3.4), not DER; RS256 is the 3072-bit modulus. */
const SIGNATURE_BYTES = { ES256: 64, EdDSA: 64, RS256: 384 } as const;

for (const [alg, signOnEventLoop] of [
  ['ES256', true],
  ['ES256', false],
  ['EdDSA', true],
  ['EdDSA', false],
  ['RS256', true],
] as const) {
  void describe(`tokens signed with ${alg} (signing.thread ${signOnEventLoop ? 'event-loop' : 'thread-pool'})`, () => {
    let t: TestServer;
    let secret: string;
    let jwks: JSONWebKeySet;

    before(async () => {
      t = await startTestServer({ flags: { signingAlg: alg }, env: { TESSERA_SIGNING_THREAD: signOnEventLoop ? 'event-loop' : 'thread-pool' } });
      for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api' });
      assert.equal(created.status, 201, created.text);
      secret = created.json.clientSecret;
      const role = await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] });
      assert.equal(role.status, 201, role.text);
      const keys = await t.send('/oauth2/keys');
      assert.equal(keys.status, 200, keys.text);
      jwks = keys.json as JSONWebKeySet;
    });
    after(() => t.stop());

    void it(`signs on the event loop only for ES256 when asked to (${alg === 'ES256' && signOnEventLoop ? 'on the loop' : 'on the thread pool'})`, () => {
      assert.equal(t.server.signingKeys.current().onEventLoop, alg === 'ES256' && signOnEventLoop);
    });

    void it('verifies the access token and ID token with jose against the published JWKS', async () => {
      const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'openid beta:service.backend beta:domain' });
      assert.equal(res.status, 200, res.text);
      const { access_token: accessToken, id_token: idToken } = res.json as { access_token: string; id_token: string };
      const [published, ...others] = jwks.keys;
      assert.equal(others.length, 0);
      assert.equal(published?.alg, alg);

      const access = await jwtVerify(accessToken, createLocalJWKSet(jwks), { issuer: t.url, audience: 'beta', typ: 'at+jwt', algorithms: [alg] });
      assert.deepEqual(access.protectedHeader, { alg, kid: published.kid, typ: 'at+jwt' });
      const iat = access.payload.iat!;
      assert.deepEqual(access.payload, {
        ver: 1,
        iss: t.url,
        aud: 'beta',
        sub: 'alpha.api',
        uid: 'alpha.api',
        client_id: 'alpha.api',
        iat,
        nbf: iat,
        exp: iat + 3600,
        jti: access.payload.jti,
        scp: ['readers'],
        scope: 'beta:role.readers',
      });
      assert.match(access.payload.jti!, /^[0-9a-f-]{36}$/);

      const id = await jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: t.url, audience: 'beta.backend', typ: 'JWT', algorithms: [alg] });
      assert.deepEqual(id.protectedHeader, { alg, kid: published.kid, typ: 'JWT' });
      const { jti: idJti, ...idClaims } = id.payload;
      assert.deepEqual(idClaims, { ver: 1, iss: t.url, aud: 'beta.backend', sub: 'alpha.api', iat, auth_time: iat, exp: iat + 3600 });
      assert.match(String(idJti), /^[0-9a-f-]{36}$/, 'an ID token has a jti of its own: it can be revoked');
      assert.notEqual(idJti, access.payload.jti);

      for (const token of [accessToken, idToken]) {
        assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, SIGNATURE_BYTES[alg]);
        assert.deepEqual(Object.keys(decodeProtectedHeader(token)), ['alg', 'kid', 'typ']);
      }
    });

    void it('refuses a token whose claims were changed after signing', async () => {
      const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:domain' });
      assert.equal(res.status, 200, res.text);
      const [header, payload, signature] = (res.json.access_token as string).split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'beta.admin' })).toString('base64url');
      await assert.rejects(jwtVerify(`${header}.${forged}.${signature}`, createLocalJWKSet(jwks)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });
  });
}

void describe('signsOnEventLoop (signing.thread)', () => {
  const config = (thread: 'auto' | 'event-loop' | 'thread-pool', workers: number) =>
    ({ workers, signing: { alg: 'ES256', rotationInterval: 1, prePublication: 1, jwksMaxAge: 0, checkInterval: 1, thread } }) as const;
  void it('auto: on the event loop when the workers cover every core, on the thread pool with fewer', () => {
    assert.equal(signsOnEventLoop(config('auto', 4), 4), true);
    assert.equal(signsOnEventLoop(config('auto', 8), 4), true);
    assert.equal(signsOnEventLoop(config('auto', 3), 4), false);
    assert.equal(signsOnEventLoop(config('auto', 1), 1), true);
  });
  void it('event-loop and thread-pool: as set, whatever the workers', () => {
    assert.equal(signsOnEventLoop(config('event-loop', 1), 4), true);
    assert.equal(signsOnEventLoop(config('thread-pool', 4), 4), false);
  });
});

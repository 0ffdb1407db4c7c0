// Certificates proven by an external OIDC token over real HTTPS, against a fake
// Kubernetes issuer: a local HTTP server publishing a JWKS, whose service-account tokens
// (`sub: system:serviceaccount:<namespace>:<name>`) map to principals `<namespace>.<name>`.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, exportJWK, type JWTPayload } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, parseCertificate, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';

const KUBERNETES = 'https://kubernetes.default.svc.cluster.local';
const CI = 'https://ci.example';
const UNREACHABLE = 'https://unreachable.example';
const LOOSE = 'https://loose.example';
/** Configured with the pattern the documentation recommends: `[^:]+` lets a dot into either group. */
const DOCUMENTED = 'https://documented.example';
const AUDIENCE = 'tessera';
/** Trusted for client assertions too (replay by jti, maxLifetime 15 min): each token is accepted once, for either use. */
const BOTH = 'https://both.example';
/** The same, with tokens known by their hash (replay "token-hash"). */
const BOTH_HASH = 'https://both-hash.example';
const K8S_PATTERN = '^system:serviceaccount:(?<domain>[a-z0-9-]+):(?<service>[a-z0-9-]+)$';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('certificates from an external OIDC token (proof oidc-token)', () => {
  let t: TestServer;
  let jwks: Server;
  let jwksRequests = 0;
  const kubernetesKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ciKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p384Key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

  const token = (issuer: string, claims: JWTPayload, options: { key?: KeyObject; alg?: string; kid?: string; lifetime?: number } = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, aud: AUDIENCE, iat: now, exp: now + (options.lifetime ?? 600), ...claims })
      .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'k8s' })
      .sign(options.key ?? kubernetesKey.privateKey);
  };
  const serviceAccount = (namespace: string, name: string, claims: JWTPayload = {}) =>
    token(KUBERNETES, { sub: `system:serviceaccount:${namespace}:${name}`, ...claims });
  const enroll = async (value: string, subject?: string): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec'), subject === undefined ? {} : { subject }), proof: { type: 'oidc-token', value } }),
    });

  before(async () => {
    const keys = {
      keys: [
        { ...(await exportJWK(kubernetesKey.publicKey)), kid: 'k8s', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ciKey.publicKey)), kid: 'ci', alg: 'ES256', use: 'sig' },
        { ...(await exportJWK(p384Key.publicKey)), kid: 'p384', alg: 'ES384', use: 'sig' },
      ],
    };
    jwks = createServer((request, response) => {
      jwksRequests += 1;
      if (request.url !== '/openid/v1/jwks') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/openid/v1/jwks`;
    const closedPort = await freePort();

    t = await startTestServer({
      edit: (config) => {
        config.oidcProofs = [
          { issuer: KUBERNETES, jwksUri, audience: AUDIENCE, claim: 'sub', pattern: '^system:serviceaccount:(?<domain>[a-z0-9-]+):(?<service>[a-z0-9-]+)$' },
          { issuer: CI, jwksUri, audience: AUDIENCE, claim: 'repository', principals: { 'acme/billing': 'alpha.ci' } },
          // Unanchored on purpose: the whole claim must match all the same.
          { issuer: LOOSE, jwksUri, audience: AUDIENCE, claim: 'sub', pattern: 'serviceaccount:(?<domain>[a-z0-9-]+):(?<service>[a-z0-9-]+)' },
          { issuer: DOCUMENTED, jwksUri, audience: AUDIENCE, claim: 'sub', pattern: '^system:serviceaccount:(?<domain>[^:]+):(?<service>[^:]+)$' },
          { issuer: UNREACHABLE, jwksUri: `http://127.0.0.1:${closedPort}/jwks`, audience: AUDIENCE, claim: 'sub', principals: { x: 'alpha.api' } },
          { issuer: BOTH, jwksUri, audience: AUDIENCE, claim: 'sub', pattern: K8S_PATTERN, uses: ['certificates', 'client-assertions'], maxLifetime: 900 },
          {
            issuer: BOTH_HASH,
            jwksUri,
            audience: AUDIENCE,
            claim: 'sub',
            pattern: K8S_PATTERN,
            uses: ['certificates', 'client-assertions'],
            replay: 'token-hash',
          },
        ];
      },
    });
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['api', 'ci', 'off']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'fenced', allowedIps: ['10.9.9.0/24'] })).status, 201);
  });
  after(async () => {
    await t.stop();
    await new Promise((resolve) => jwks.close(resolve));
  });

  it('issues a certificate for the principal a Kubernetes service-account token maps to', async () => {
    const res = await enroll(await serviceAccount('alpha', 'api'), 'CN=alpha.api');
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.api');
    assert.equal(parseCertificate(res.json.certificate).subject, 'CN=alpha.api');
  });

  it("refuses a service whose allowedIps leave out the caller's address (403), as the token endpoint does", async () => {
    const res = await enroll(await serviceAccount('alpha', 'fenced'));
    assertError(res, 403, 'forbidden', /127\.0\.0\.1 is not in the allowed IP ranges of alpha\.fenced;/);
  });

  it('maps a claim through the exact principals table (ES256 issuer)', async () => {
    const res = await enroll(await token(CI, { repository: 'acme/billing', sub: 'repo:acme/billing' }, { key: ciKey.privateKey, alg: 'ES256', kid: 'ci' }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.ci');
  });

  it('fetches the issuer keys once and reuses them', async () => {
    const before = jwksRequests;
    for (let i = 0; i < 3; i += 1) assert.equal((await enroll(await serviceAccount('alpha', 'api'))).status, 201);
    assert.equal(jwksRequests, before);
  });

  it('refuses a token for another audience (401)', async () => {
    assertError(
      await enroll(await serviceAccount('alpha', 'api', { aud: 'https://kubernetes.default.svc' })),
      401,
      'invalid_proof',
      /aud does not include "tessera"/,
    );
  });

  it('refuses a token from an issuer that is not configured (401)', async () => {
    const res = await enroll(await token('https://evil.example', { sub: 'system:serviceaccount:alpha:api' }));
    assertError(res, 401, 'invalid_proof', /issuer "https:\/\/evil\.example" is not one this server trusts/);
  });

  it('refuses a token whose claim maps to no principal (403)', async () => {
    const res = await enroll(await token(KUBERNETES, { sub: 'user:bob' }));
    assertError(res, 403, 'forbidden', /sub "user:bob" of issuer .* maps to no principal/);
  });

  it('accepts a claim an unanchored pattern matches whole', async () => {
    const res = await enroll(await token(LOOSE, { sub: 'serviceaccount:alpha:api' }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.api');
  });

  it('refuses a claim that the pattern matches only in part (403)', async () => {
    const res = await enroll(await token(LOOSE, { sub: 'system:serviceaccount:alpha:api:extra' }));
    assertError(res, 403, 'forbidden', /maps to no principal/);
  });

  it('refuses a service-account name with a dot, which would name a service of another domain (403)', async () => {
    // Namespace "sys" + account "auth.admin" must not become the bootstrap admin sys.auth.admin.
    const res = await enroll(await token(DOCUMENTED, { sub: 'system:serviceaccount:sys:auth.admin' }));
    assertError(res, 403, 'forbidden', /maps to no principal: its service "auth\.admin" is not a service name/);
  });

  it('refuses a domain group that is not a domain name (403)', async () => {
    const res = await enroll(await token(DOCUMENTED, { sub: 'system:serviceaccount:Alpha:api' }));
    assertError(res, 403, 'forbidden', /maps to no principal: its domain "Alpha" is not a domain name/);
  });

  it('maps a dotted domain group when the pattern allows it, the service being the last part', async () => {
    const res = await enroll(await token(DOCUMENTED, { sub: 'system:serviceaccount:alpha:api' }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.api');
  });

  it('refuses a claim value the principals table does not list exactly (403)', async () => {
    const res = await enroll(await token(CI, { repository: 'acme/billing-fork' }, { key: ciKey.privateKey, alg: 'ES256', kid: 'ci' }));
    assertError(res, 403, 'forbidden', /maps to no principal/);
  });

  it('refuses a token without the configured claim (403)', async () => {
    const res = await enroll(await token(CI, { sub: 'x' }, { key: ciKey.privateKey, alg: 'ES256', kid: 'ci' }));
    assertError(res, 403, 'forbidden', /no string claim "repository"/);
  });

  it('refuses a token that maps to a service that does not exist (403)', async () => {
    assertError(await enroll(await serviceAccount('alpha', 'ghost')), 403, 'forbidden', /service alpha\.ghost does not exist/);
  });

  it('refuses a token that maps to a disabled service (403)', async () => {
    assertError(await enroll(await serviceAccount('alpha', 'off')), 403, 'forbidden', /service alpha\.off is disabled/);
  });

  it('refuses a token signed by a key the issuer does not publish (401)', async () => {
    const res = await enroll(await token(KUBERNETES, { sub: 'system:serviceaccount:alpha:api' }, { key: strangerKey.privateKey }));
    assertError(res, 401, 'invalid_proof', /signature verification failed/);
  });

  it('refuses an HMAC-signed token (401)', async () => {
    const hmac = await new SignJWT({ iss: KUBERNETES, aud: AUDIENCE, sub: 'system:serviceaccount:alpha:api', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'k8s' })
      .sign(randomBytes(32));
    assertError(await enroll(hmac), 401, 'invalid_proof', /"alg" \(Algorithm\) Header Parameter value not allowed/);
  });

  it('refuses an algorithm outside RS256, ES256 and EdDSA (401)', async () => {
    const res = await enroll(await token(KUBERNETES, { sub: 'system:serviceaccount:alpha:api' }, { key: p384Key.privateKey, alg: 'ES384', kid: 'p384' }));
    assertError(res, 401, 'invalid_proof', /not allowed/);
  });

  it('refuses an expired token (401)', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    assertError(await enroll(await serviceAccount('alpha', 'api', { iat: past - 600, exp: past })), 401, 'invalid_proof', /"exp" claim timestamp check failed/);
  });

  it('refuses a value that is not a JWT (401)', async () => {
    assertError(await enroll('eyJ.not.a-jwt'), 401, 'invalid_proof', /not a JWT/);
  });

  describe('an issuer also trusted for client assertions', () => {
    const api = { sub: 'system:serviceaccount:alpha:api' };

    it("accepts each of its tokens once (by jti), where a certificates-only issuer's token can be used again", async () => {
      const once = await token(BOTH, { ...api, jti: randomBytes(8).toString('hex') });
      assert.equal((await enroll(once)).status, 201);
      const spent = /OIDC token was already used \(its jti was seen before\): issuer https:\/\/both\.example is trusted for client/;
      assertError(await enroll(once), 401, 'invalid_proof', spent);
      // Another token with the same jti is the same token to the replay record.
      assertError(await enroll(await token(BOTH, { ...api, jti: decodeJwt(once).jti })), 401, 'invalid_proof', /already used/);
      const reusable = await serviceAccount('alpha', 'api');
      for (let i = 0; i < 2; i += 1) assert.equal((await enroll(reusable)).status, 201);
    });

    it('accepts each token once by its hash with replay "token-hash"', async () => {
      const once = await token(BOTH_HASH, api);
      assert.equal((await enroll(once)).status, 201);
      assertError(await enroll(once), 401, 'invalid_proof', /OIDC token was already used \(this exact token was seen before\)/);
    });

    it('applies its client-assertion rules: a jti unless replay is "token-hash", iat not in the future, and maxLifetime', async () => {
      const rules = /the OIDC token was rejected \(issuer https:\/\/both\.example is trusted for client assertions too, whose rules apply\)/;
      assertError(await enroll(await token(BOTH, api)), 401, 'invalid_proof', new RegExp(`${rules.source}: jti is required`));
      const long = await token(BOTH, { ...api, jti: 'long' }, { lifetime: 1800 });
      assertError(await enroll(long), 401, 'invalid_proof', new RegExp(`${rules.source}: it is valid for 1800 s, longer than the 900 s`));
      const now = Math.floor(Date.now() / 1000);
      const ahead = await token(BOTH, { ...api, jti: 'ahead', iat: now + 3600, exp: now + 3900 });
      assertError(await enroll(ahead), 401, 'invalid_proof', /it was issued in the future/);
      // The default maxLifetime (1 h) for the token-hash issuer; none for a certificates-only issuer.
      assertError(await enroll(await token(BOTH_HASH, api, { lifetime: 7200 })), 401, 'invalid_proof', /longer than the 3600 s/);
      assert.equal((await enroll(await token(KUBERNETES, api, { lifetime: 7200 }))).status, 201);
    });

    it("does not spend a token refused for its principal's standing", async () => {
      const off = await token(BOTH, { sub: 'system:serviceaccount:alpha:off', jti: randomBytes(8).toString('hex') });
      assertError(await enroll(off), 403, 'forbidden', /service alpha\.off is disabled/);
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'ACTIVE' })).status, 200);
      try {
        assert.equal((await enroll(off)).status, 201);
      } finally {
        assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
      }
    });
  });

  it('answers 503 when the issuer keys cannot be fetched', async () => {
    const res = await enroll(await token(UNREACHABLE, { sub: 'x' }));
    assertError(res, 503, 'temporarily_unavailable', /could not fetch the signing keys of issuer https:\/\/unreachable\.example/);
  });
});

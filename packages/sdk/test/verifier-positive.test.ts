// What the verifier accepts and what it hands back: single- and multi-domain tokens, both role
// claims, requirements by scope item or by role, the clock skew at each time claim, the
// verified-token cache, and the options it refuses at construction.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { X509Certificate, createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { createVerifier, hasRole, InsufficientScopeError, InvalidTokenError, type Verifier } from '../src/verifier/index.ts';
import { selfSignedCertificates, signingKey, startIssuer, type TestIssuer } from './verifier-fixtures.ts';

describe('verifier: accepted tokens', () => {
  let issuer: TestIssuer;
  let verifier: Verifier;

  before(async () => {
    issuer = await startIssuer();
    verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
  });
  after(() => issuer.close());

  it('accepts a single-domain token and returns its principal, roles and claims, frozen', async () => {
    const token = await issuer.sign();
    const auth = await verifier.verify(token);
    assert.equal(auth.kind, 'access_token');
    assert.equal(auth.principal, 'alpha.api');
    assert.equal(auth.clientId, 'alpha.api');
    assert.deepEqual(auth.audience, ['beta']);
    assert.deepEqual({ ...auth.roles }, { beta: ['readers', 'writers'] });
    assert.deepEqual(auth.scope, ['beta:role.readers', 'beta:role.writers']);
    assert.equal(auth.certificateThumbprint, null);
    assert.equal(auth.expiresAt, auth.claims['exp']);
    assert.equal(auth.claims['jti'] !== undefined, true);
    assert.ok(Object.isFrozen(auth) && Object.isFrozen(auth.claims) && Object.isFrozen(auth.claims['scp']) && Object.isFrozen(auth.roles));
    assert.equal(hasRole(auth.roles, 'beta', 'writers'), true);
    assert.equal(hasRole(auth.roles, 'beta', 'admin'), false);
    assert.equal(hasRole(auth.roles, '__proto__', 'x'), false);
  });

  it('accepts the typ in its full media-type form and in any case', async () => {
    for (const typ of ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) await verifier.verify(await issuer.sign({}, { typ }));
  });

  it('checks required scope items in both forms, and required roles with any or all', async () => {
    const token = await issuer.sign();
    await verifier.verify(token, { scope: ['beta:role.readers', 'beta:writers'] });
    await verifier.verify(token, { roles: { domain: 'beta', roles: ['admin', 'writers'] } });
    await verifier.verify(token, { roles: { domain: 'beta', roles: ['readers', 'writers'], match: 'all' } });
    await assert.rejects(verifier.verify(token, { roles: { domain: 'beta', roles: ['readers', 'admin'], match: 'all' } }), InsufficientScopeError);
    await assert.rejects(verifier.verify(token, { scope: ['beta:role.readers', 'beta:role.admin'] }), /does not grant beta:role.admin/);
  });

  it('reads a multi-domain token: aud array, scp as <d>:<r>, roles of every audience domain', async () => {
    const multi = createVerifier({ issuer: issuer.url, audience: ['gamma', 'delta'] });
    const token = await issuer.sign({
      aud: ['beta', 'gamma'],
      scp: ['beta:readers', 'gamma:writers', 'gamma:admin'],
      scope: 'beta:role.readers gamma:writers gamma:role.admin',
    });
    const auth = await multi.verify(token, { scope: ['gamma:role.writers'] });
    assert.deepEqual(auth.audience, ['beta', 'gamma']);
    assert.deepEqual({ ...auth.roles }, { beta: ['readers'], gamma: ['admin', 'writers'] });
    await multi.verify(token, { roles: { domain: 'gamma', roles: ['admin'] } });
    await assert.rejects(multi.verify(token, { scope: ['gamma:role.readers'] }), InsufficientScopeError);
  });

  it('counts roles only in domains the token is for', async () => {
    const token = await issuer.sign({ scp: ['readers', 'gamma:admin'], scope: 'beta:role.readers gamma:role.admin' });
    const auth = await createVerifier({ issuer: issuer.url, audience: ['beta', 'gamma'] }).verify(token);
    assert.deepEqual({ ...auth.roles }, { beta: ['readers'] });
  });

  it('takes roles from scope alone or scp alone, and ignores items that are not roles', async () => {
    const scopeOnly = await verifier.verify(await issuer.sign({ scp: undefined, scope: 'beta:role.readers beta:writers beta:domain openid beta:service.api' }));
    assert.deepEqual({ ...scopeOnly.roles }, { beta: ['readers', 'writers'] });
    const scpOnly = await verifier.verify(await issuer.sign({ scope: undefined, scp: ['readers'] }));
    assert.deepEqual({ ...scpOnly.roles }, { beta: ['readers'] });
    assert.deepEqual(scpOnly.scope, []);
    const none = await verifier.verify(await issuer.sign({ scope: undefined, scp: undefined }));
    assert.deepEqual({ ...none.roles }, {});
    await assert.rejects(verifier.verify(await issuer.sign({ scope: undefined, scp: undefined }), { scope: ['beta:readers'] }), InsufficientScopeError);
  });

  it('allows the clock skew at exp, nbf and iat, and no more', async () => {
    let now = Date.now();
    const clocked = createVerifier({ issuer: issuer.url, audience: 'beta', clockSkew: 30, now: () => now, cacheSize: 0 });
    const t = Math.floor(now / 1000);
    await clocked.verify(await issuer.sign({ iat: t - 3600, nbf: t - 3600, exp: t - 29 }));
    await clocked.verify(await issuer.sign({ iat: t, nbf: t + 29, exp: t + 3600 }));
    await clocked.verify(await issuer.sign({ iat: t + 29, nbf: t + 29, exp: t + 3600 }));
    const strict = createVerifier({ issuer: issuer.url, audience: 'beta', clockSkew: 0, now: () => now });
    await assert.rejects(strict.verify(await issuer.sign({ iat: t - 3600, nbf: t - 3600, exp: t })), /expired/);
    await assert.rejects(strict.verify(await issuer.sign({ iat: t + 2, nbf: t })), /issued at/);
    const token = await issuer.sign({ iat: t, nbf: t, exp: t + 60 });
    await clocked.verify(token);
    now += 89_000;
    await clocked.verify(token);
    now += 2_000;
    await assert.rejects(clocked.verify(token), (error: unknown) => error instanceof InvalidTokenError && error.reason === 'expired');
  });

  it('accepts other configured algorithms, and only those', async () => {
    const ed = await signingKey('ed-1', 'EdDSA');
    issuer.published.push(ed);
    try {
      const edVerifier = createVerifier({ issuer: issuer.url, audience: 'beta', algorithms: ['EdDSA'] });
      const token = await new SignJWT(issuer.claims()).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1', typ: 'at+jwt' }).sign(ed.privateKey);
      assert.equal((await edVerifier.verify(token)).principal, 'alpha.api');
      await assert.rejects(edVerifier.verify(await issuer.sign()), /"ES256" is not accepted here; accepted: EdDSA/);
    } finally {
      issuer.published.pop();
    }
  });
});

describe('verifier: the verified-token cache', () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('answers a repeated token from the cache (the same frozen context), admitting it on its second verification', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
    const token = await issuer.sign();
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    assert.notEqual(second, first, 'a first sighting is not cached');
    assert.equal(await verifier.verify(token), second);
    assert.equal(await verifier.verify(token), second);
    const uncached = createVerifier({ issuer: issuer.url, audience: 'beta', cacheSize: 0 });
    await uncached.verify(token);
    assert.notEqual(await uncached.verify(token), await uncached.verify(token));
  });

  it('a cached token still expires at its exp', async () => {
    let now = Date.now();
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta', clockSkew: 0, now: () => now });
    const t = Math.floor(now / 1000);
    const token = await issuer.sign({ iat: t, nbf: t, exp: t + 10 });
    await verifier.verify(token);
    const cached = await verifier.verify(token);
    now += 5_000;
    assert.equal(await verifier.verify(token), cached);
    now += 5_000;
    await assert.rejects(verifier.verify(token), (error: unknown) => error instanceof InvalidTokenError && error.reason === 'expired');
  });

  it('checks the required scope and the caller certificate on every hit', async () => {
    const certs = selfSignedCertificates(['a', 'b']);
    const a = new X509Certificate(certs['a']?.cert ?? '');
    const b = new X509Certificate(certs['b']?.cert ?? '');
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
    const token = await issuer.sign({
      scp: ['readers'],
      scope: 'beta:role.readers',
      cnf: { 'x5t#S256': createHash('sha256').update(a.raw).digest('base64url') },
    });
    await verifier.verify(token, { peerCertificate: a });
    const cached = await verifier.verify(token, { peerCertificate: a, scope: ['beta:readers'] });
    assert.equal(await verifier.verify(token, { peerCertificate: a.raw }), cached);
    await assert.rejects(verifier.verify(token, { peerCertificate: b }), /bound to another client certificate/);
    await assert.rejects(verifier.verify(token), /came without one/);
    await assert.rejects(verifier.verify(token, { peerCertificate: a, scope: ['beta:writers'] }), InsufficientScopeError);
  });

  it('keeps at most cacheSize tokens, dropping the least recently used', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta', cacheSize: 2 });
    const [t1, t2, t3] = await Promise.all([issuer.sign(), issuer.sign(), issuer.sign()]);
    const cache = async (token: string) => (await verifier.verify(token), verifier.verify(token));
    const c1 = await cache(t1);
    const c2 = await cache(t2);
    assert.equal(await verifier.verify(t1), c1);
    await cache(t3);
    assert.equal(await verifier.verify(t1), c1, 'recently used: kept');
    assert.notEqual(await verifier.verify(t2), c2, 'least recently used: dropped');
  });
});

describe('verifier: options', () => {
  const base = { issuer: 'https://tessera.example', audience: 'beta' };

  it('refuses dangerous or impossible options at construction, saying what to fix', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ algorithms: ['none'] }, /only asymmetric JWS algorithms .*"none" is refused/],
      [{ algorithms: ['HS256'] }, /"HS256" is refused/],
      [{ algorithms: [] }, /at least one algorithm/],
      [{ clockSkew: 301 }, /"clockSkew" is at most 300 seconds/],
      [{ clockSkew: -1 }, /"clockSkew" must be a number of seconds/],
      [{ audience: '' }, /"audience" must be a non-empty string/],
      [{ audience: [] }, /"audience"/],
      [{ issuer: 'http://tessera.example' }, /"issuer" must use https \(http is allowed only to localhost\)/],
      [{ issuer: 'not a url' }, /"issuer" is not a valid URL/],
      [{ jwksUri: 'http://keys.example/jwks' }, /"jwksUri" must use https/],
      [{ maxTokenSize: 10 }, /"maxTokenSize" must be at least 256/],
      [{ cacheSize: 1.5 }, /"cacheSize" must be a whole number/],
      [{ ca: 'not pem' }, /"ca" must be PEM text/],
      [{ apiKeys: { clientId: 'beta.rs' } }, /"apiKeys" needs the clientId and clientSecret/],
      [{ apiKeys: { clientId: 'beta.rs', clientSecret: 's', cacheTtl: 3600 } }, /"apiKeys.cacheTtl" is at most 300/],
    ];
    for (const [overrides, message] of cases) {
      assert.throws(
        () => createVerifier({ ...base, ...overrides } as never),
        (error: unknown) => error instanceof TypeError && message.test(error.message),
        JSON.stringify(overrides),
      );
    }
    createVerifier({ ...base, issuer: 'http://localhost:8443', jwksUri: 'http://127.0.0.1:1/jwks', algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'] });
  });

  it('refuses a malformed route requirement when it is prepared, not at request time', () => {
    const verifier = createVerifier(base);
    assert.throws(() => verifier.requirement({ scope: ['beta'] }), /required scope "beta" is not "<domain>:role.<role>"/);
    assert.throws(() => verifier.requirement({ scope: ['beta:domain'] }), TypeError);
    assert.throws(() => verifier.requirement({ roles: { domain: 'beta', roles: [] } }), /non-empty list of role names/);
    assert.throws(() => verifier.requirement({ roles: { domain: 'Beta!', roles: ['x'] } }), /need a domain name/);
    assert.throws(() => verifier.requirement({ roles: { domain: 'beta', roles: ['x'], match: 'some' as 'any' } }), /"any" or "all"/);
  });
});

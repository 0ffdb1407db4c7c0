// API keys through introspection against the stand-in issuer: a key is accepted only for its
// audience; the answer is cached briefly (inactive ones too), never past the key's expiry;
// concurrent checks share one request; a malformed key costs no request; and problems on this
// service's side are 503s, not the caller's.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createVerifier,
  InsufficientScopeError,
  InvalidAudienceError,
  InvalidTokenError,
  VerifierUnavailableError,
  type Verifier,
} from '../src/verifier/index.ts';
import { apiKey, startIssuer, type TestIssuer } from './verifier-fixtures.ts';

describe('verifier: API keys', () => {
  let issuer: TestIssuer;
  let now = Date.now();
  let verifier: Verifier;
  const active = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    active: true,
    client_id: 'alpha.api',
    sub: 'alpha.api',
    aud: 'beta',
    token_type: 'api_key',
    iat: Math.floor(now / 1000),
    scope: 'beta:role.readers gamma:role.admin',
    ...overrides,
  });

  before(async () => {
    issuer = await startIssuer();
    verifier = createVerifier({
      issuer: issuer.url,
      audience: 'beta',
      now: () => now,
      apiKeys: { clientId: 'beta.rs', clientSecret: 's3cret:+/', cacheTtl: 10 },
    });
  });
  after(() => issuer.close());

  it('accepts an active key as its service, with the roles it holds in this audience', async () => {
    const key = apiKey();
    issuer.introspection.set(key, active());
    const auth = await verifier.verifyApiKey(key, { scope: ['beta:readers'] });
    assert.equal(auth.kind, 'api_key');
    assert.equal(auth.principal, 'alpha.api');
    assert.deepEqual({ ...auth.roles }, { beta: ['readers'] });
    assert.deepEqual(auth.audience, ['beta']);
    assert.equal(auth.expiresAt, null);
    assert.equal(verifier.acceptsApiKeys, true);
    // client_secret_basic, form-encoded before base64 (RFC 6749 §2.3.1).
    assert.equal(issuer.lastIntrospectionAuth, `Basic ${Buffer.from('beta.rs:s3cret%3A%2B%2F').toString('base64')}`);
    await assert.rejects(verifier.verifyApiKey(key, { scope: ['beta:writers'] }), InsufficientScopeError);
  });

  it('refuses a key issued for another audience, or for none, with AUTH_107 as it refuses such a token', async () => {
    for (const aud of ['gamma', ['gamma', 'delta'], 'Beta', '', undefined, 42]) {
      const key = apiKey();
      issuer.introspection.set(key, active({ aud }));
      await assert.rejects(verifier.verifyApiKey(key), (error: unknown) => {
        assert.ok(error instanceof InvalidAudienceError, String(error));
        assert.equal(error.code, 'AUTH_107');
        assert.equal(error.status, 401);
        assert.equal(error.error, 'invalid_token');
        assert.match(error.message, aud === undefined ? /has no audience/ : /the API key's audience .* is not beta/);
        assert.match(error.message, /ask for a key issued for this service's domain/);
        return true;
      });
    }
  });

  it("takes the roles of the key's own audience only, when this verifier answers to several", async () => {
    const apiKeys = { clientId: 'beta.rs', clientSecret: 's', cacheTtl: 0 };
    const several = createVerifier({ issuer: issuer.url, audience: ['beta', 'gamma'], apiKeys });
    const key = apiKey();
    issuer.introspection.set(key, active({ aud: 'gamma' }));
    const auth = await several.verifyApiKey(key);
    assert.deepEqual(auth.audience, ['gamma']);
    assert.deepEqual({ ...auth.roles }, { gamma: ['admin'] });
    await assert.rejects(several.verifyApiKey(key, { scope: ['beta:readers'] }), InsufficientScopeError);
  });

  it('reuses an answer for cacheTtl, inactive ones included, then asks again', async () => {
    const key = apiKey();
    issuer.introspection.set(key, active());
    const fetches = issuer.fetches.introspection;
    await verifier.verifyApiKey(key);
    await verifier.verifyApiKey(key);
    assert.equal(issuer.fetches.introspection, fetches + 1);
    issuer.introspection.delete(key);
    now += 5_000;
    await verifier.verifyApiKey(key);
    now += 5_001;
    await assert.rejects(verifier.verifyApiKey(key), (error: unknown) => {
      assert.ok(error instanceof InvalidTokenError);
      assert.equal(error.code, 'AUTH_105');
      assert.equal(error.reason, 'inactive');
      assert.match(error.message, /not active: it was revoked, it expired, or its service is disabled/);
      return true;
    });
    await assert.rejects(verifier.verifyApiKey(key), InvalidTokenError);
    assert.equal(issuer.fetches.introspection, fetches + 2);
  });

  it("never uses a cached answer past the key's own expiry", async () => {
    const key = apiKey();
    issuer.introspection.set(key, active({ exp: Math.floor(now / 1000) + 2 }));
    const fetches = issuer.fetches.introspection;
    assert.equal((await verifier.verifyApiKey(key)).expiresAt, Math.floor(now / 1000) + 2);
    issuer.introspection.set(key, { active: false });
    now += 3_000;
    await assert.rejects(verifier.verifyApiKey(key), /not active/);
    assert.equal(issuer.fetches.introspection, fetches + 2);
  });

  it('concurrent checks of one key share one introspection request', async () => {
    const key = apiKey();
    issuer.introspection.set(key, active());
    const fetches = issuer.fetches.introspection;
    await Promise.all(Array.from({ length: 50 }, () => verifier.verifyApiKey(key)));
    assert.equal(issuer.fetches.introspection, fetches + 1);
  });

  it('refuses a malformed key or one with a bad checksum without asking the issuer', async () => {
    const fetches = issuer.fetches.introspection;
    const good = apiKey();
    const badChecksum = `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`;
    for (const key of ['tsk_nope', badChecksum, `${good}x`, good.replace('tsk_', 'tsx_'), '']) {
      await assert.rejects(
        verifier.verifyApiKey(key),
        (error: unknown) => error instanceof InvalidTokenError && error.reason === 'malformed' && /not a Tessera key/.test(error.message),
      );
    }
    assert.equal(issuer.fetches.introspection, fetches);
  });

  it('refuses an introspection answer that is not an active API key (an access token answer, no sub)', async () => {
    const key = apiKey();
    issuer.introspection.set(key, active({ token_type: 'Bearer' }));
    await assert.rejects(verifier.verifyApiKey(key), /not active/);
    const other = apiKey();
    issuer.introspection.set(other, active({ sub: undefined }));
    await assert.rejects(verifier.verifyApiKey(other), /not active/);
  });

  it("introspection failures on this service's side are VERIFIER_UNAVAILABLE and not cached", async () => {
    const key = apiKey();
    issuer.introspection.set(key, active());
    issuer.introspectionStatus = 401;
    try {
      await assert.rejects(verifier.verifyApiKey(key), (error: unknown) => {
        assert.ok(error instanceof VerifierUnavailableError);
        assert.equal(error.status, 503);
        assert.match(error.message, /answered 401; check apiKeys.clientId and clientSecret/);
        return true;
      });
    } finally {
      issuer.introspectionStatus = 200;
    }
    assert.equal((await verifier.verifyApiKey(key)).principal, 'alpha.api');
  });

  it('uses a configured introspection endpoint without discovery', async () => {
    const local = await startIssuer();
    try {
      const key = apiKey();
      local.introspection.set(key, active());
      const direct = createVerifier({
        issuer: local.url,
        audience: 'beta',
        apiKeys: { clientId: 'x', clientSecret: 'y', introspectionEndpoint: `${local.url}/introspect` },
      });
      await direct.verifyApiKey(key);
      assert.equal(local.fetches.discovery, 0);
    } finally {
      await local.close();
    }
  });

  it('a verifier without apiKeys refuses keys, saying to send a bearer token', async () => {
    const plain = createVerifier({ issuer: issuer.url, audience: 'beta' });
    assert.equal(plain.acceptsApiKeys, false);
    await assert.rejects(plain.verifyApiKey(apiKey()), /does not accept API keys; send an access token/);
  });
});

// The verifier's two opt-in modes for tools that inspect tokens: ID tokens (typ JWT, aud the
// <domain>.<service> they are addressed to) and any audience (aud present, not compared).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createVerifier, InvalidTokenError } from '../src/verifier/index.ts';
import { startIssuer, type TestIssuer } from './verifier-fixtures.ts';

describe('verifier modes', () => {
  let issuer: TestIssuer;

  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  const idClaims = (extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    return { ver: 1, iss: issuer.url, aud: 'beta.api', sub: 'alpha.api', iat: now, exp: now + 60, ...extra };
  };
  const signId = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> =>
    issuer.sign(
      { ...idClaims(extra), client_id: undefined, jti: undefined, scp: undefined, scope: undefined, nbf: undefined, uid: undefined },
      { typ: 'JWT', ...header },
    );

  const reasonOf = async (promise: Promise<unknown>): Promise<string> => {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof InvalidTokenError, String(error));
      return `${error.reason}: ${error.message}`;
    }
    return 'accepted';
  };

  describe("tokenType: 'id_token'", () => {
    it('accepts an ID token for its <domain>.<service> audience, granting no roles', async () => {
      const verifier = createVerifier({ issuer: issuer.url, audience: 'beta.api', tokenType: 'id_token' });
      const context = await verifier.verify(await signId({ azp: 'alpha.api' }));
      assert.equal(context.kind, 'id_token');
      assert.equal(context.principal, 'alpha.api');
      assert.equal(context.clientId, 'alpha.api');
      assert.deepEqual(context.audience, ['beta.api']);
      assert.deepEqual(context.roles, {});
      assert.deepEqual(context.scope, []);
    });

    it('refuses an access token, and an ID token without its claims or for another service', async () => {
      const verifier = createVerifier({ issuer: issuer.url, audience: 'beta.api', tokenType: 'id_token' });
      assert.match(await reasonOf(verifier.verify(await issuer.sign({ aud: 'beta.api' }))), /^type: .*not "JWT": only ID tokens are accepted here/);
      assert.match(await reasonOf(verifier.verify(await signId({ iat: undefined }))), /^claims: the token has no "iat" claim, which an ID token must carry/);
      await assert.rejects(verifier.verify(await signId({ aud: 'beta.other' })), { name: 'InvalidAudienceError' });
    });

    it('leaves the access token mode as it was: an ID token is refused there', async () => {
      const verifier = createVerifier({ issuer: issuer.url, audience: 'beta.api' });
      assert.match(await reasonOf(verifier.verify(await signId())), /^type: .*not "at\+jwt"/);
    });
  });

  describe('anyAudience', () => {
    it("accepts a token for any audience and reports the token's own", async () => {
      const verifier = createVerifier({ issuer: issuer.url, anyAudience: true });
      const context = await verifier.verify(await issuer.sign({ aud: ['gamma', 'delta'], scope: 'gamma:role.readers' }));
      assert.deepEqual(context.audience, ['gamma', 'delta']);
      assert.deepEqual(context.roles, { gamma: ['readers'] });
    });

    it('still requires an aud claim, in both modes', async () => {
      const access = createVerifier({ issuer: issuer.url, anyAudience: true });
      assert.match(await reasonOf(access.verify(await issuer.sign({ aud: undefined }))), /^claims: the token has no "aud" claim/);
      const id = createVerifier({ issuer: issuer.url, anyAudience: true, tokenType: 'id_token' });
      assert.match(await reasonOf(id.verify(await signId({ aud: undefined }))), /^claims: the token has no "aud" claim/);
      assert.equal(await reasonOf(id.verify(await signId({ aud: 'anything.at-all' }))), 'accepted');
    });

    it('goes without audience and apiKeys, and needs an audience otherwise', () => {
      assert.throws(() => createVerifier({ issuer: issuer.url, anyAudience: true, audience: 'beta' }), /"anyAudience" accepts every audience: drop "audience"/);
      assert.throws(
        () => createVerifier({ issuer: issuer.url, anyAudience: true, apiKeys: { clientId: 'a.b', clientSecret: 's' } }),
        /drop "audience" and "apiKeys"/,
      );
      assert.throws(() => createVerifier({ issuer: issuer.url }), /"audience" must be a non-empty string/);
      assert.throws(() => createVerifier({ issuer: issuer.url, audience: 'beta', tokenType: 'jwt' as never }), /"tokenType" is "access_token" or "id_token"/);
    });
  });
});

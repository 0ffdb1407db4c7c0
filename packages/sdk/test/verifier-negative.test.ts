// The verifier's negative suite (issue 5, RFC 8725): every forged, misdirected, stale or
// oversized token is refused with the right class, code and reason, and the attacks that try to
// steer key selection (jku, x5u, embedded jwk, unknown kid floods) never reach a foreign URL or
// make the verifier hammer the issuer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { X509Certificate, createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  createVerifier,
  InsufficientScopeError,
  InvalidAudienceError,
  InvalidTokenError,
  type InvalidTokenReason,
  type Verifier,
} from '../src/verifier/index.ts';
import { b64url, hmacWithPublicKey, rawToken, selfSignedCertificates, signingKey, startIssuer, type TestIssuer } from './verifier-fixtures.ts';

async function assertInvalid(promise: Promise<unknown>, reason: InvalidTokenReason, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InvalidTokenError, `expected InvalidTokenError, got ${String(error)}`);
    assert.equal(error.code, 'AUTH_105');
    assert.equal(error.status, 401);
    assert.equal(error.error, 'invalid_token');
    assert.equal(error.reason, reason, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('verifier: the negative suite', () => {
  let issuer: TestIssuer;
  let verifier: Verifier;

  before(async () => {
    issuer = await startIssuer();
    verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
    // One good token first, so the JWKS is cached and fetch counts below mean what they say.
    await verifier.verify(await issuer.sign());
  });
  after(() => issuer.close());

  it('refuses alg "none" in every case variant, with or without a signature, before any key lookup', async () => {
    const fetches = issuer.fetches.jwks;
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = { alg, kid: issuer.key.kid, typ: 'at+jwt' };
      const refused = new RegExp(`"${alg}" is not accepted here; accepted: ES256`);
      await assertInvalid(verifier.verify(rawToken(header, issuer.claims())), 'algorithm', refused);
      await assertInvalid(verifier.verify(rawToken(header, issuer.claims(), 'c2lnbmF0dXJl')), 'algorithm', refused);
    }
    assert.equal(issuer.fetches.jwks, fetches);
  });

  it('refuses HS256 signed with the public key as the HMAC secret (PEM and JWK forms)', async () => {
    await assertInvalid(verifier.verify(await hmacWithPublicKey(issuer, 'pem')), 'algorithm', /"HS256" is not accepted/);
    await assertInvalid(verifier.verify(await hmacWithPublicKey(issuer, 'jwk')), 'algorithm', /"HS256" is not accepted/);
  });

  it('refuses an asymmetric algorithm outside the configured allow-list', async () => {
    const es384 = await signingKey(issuer.key.kid, 'ES384');
    const token = await new SignJWT(issuer.claims()).setProtectedHeader({ alg: 'ES384', kid: es384.kid, typ: 'at+jwt' }).sign(es384.privateKey);
    await assertInvalid(verifier.verify(token), 'algorithm', /"ES384" is not accepted here; accepted: ES256/);
  });

  it('refuses an ECDSA signature with r = s = 0 (psychic signature)', async () => {
    const good = await issuer.sign();
    const forged = `${good.split('.').slice(0, 2).join('.')}.${b64url(new Uint8Array(64))}`;
    await assertInvalid(verifier.verify(forged), 'signature', /does not verify/);
    // The DER form and a truncated zero signature are no better.
    await assertInvalid(verifier.verify(`${good.split('.').slice(0, 2).join('.')}.${b64url(Buffer.from('3006020100020100', 'hex'))}`), 'signature');
    await assertInvalid(verifier.verify(`${good.split('.').slice(0, 2).join('.')}.`), 'signature');
  });

  it('refuses a token whose claims were changed after signing', async () => {
    const [header, , signature] = (await issuer.sign()).split('.');
    const tampered = `${header}.${b64url(JSON.stringify(issuer.claims({ scp: ['admin'] })))}.${signature}`;
    await assertInvalid(verifier.verify(tampered), 'signature');
  });

  it('ignores jku, x5u and embedded jwk headers: the named keys are never fetched or used', async () => {
    const before = { ...issuer.fetches };
    const jku = `${issuer.url}/attacker/jwks`;
    // The attacker's own kid: not a key the issuer publishes.
    await assertInvalid(verifier.verify(await issuer.sign({}, { jku }, issuer.attacker)), 'key', /match no key the issuer publishes/);
    await assertInvalid(verifier.verify(await issuer.sign({}, { x5u: jku }, issuer.attacker)), 'key');
    // The issuer's kid on the attacker's signature: the issuer's key is used, and it does not verify.
    const spoofKid = { ...issuer.attacker, kid: issuer.key.kid };
    await assertInvalid(verifier.verify(await issuer.sign({}, { jku }, spoofKid)), 'signature');
    await assertInvalid(verifier.verify(await issuer.sign({}, { x5u: jku }, spoofKid)), 'signature');
    await assertInvalid(verifier.verify(await issuer.sign({}, { jwk: issuer.attacker.jwk }, spoofKid)), 'signature');
    const x5c = [selfSignedCertificates(['attacker'])['attacker']?.cert.replace(/-----[A-Z ]+-----|\s/g, '')];
    await assertInvalid(verifier.verify(await issuer.sign({}, { x5c }, spoofKid)), 'signature');
    assert.equal(issuer.fetches.attacker, 0, 'the attacker URL was never fetched');
    assert.equal(issuer.fetches.jwks, before.jwks, 'the JWKS was fetched moments ago: an unknown kid waits for the cooldown');
  });

  it('an unknown-kid flood fetches the JWKS at most once per cooldown', async () => {
    const local = await startIssuer();
    try {
      // Tokens are signed up front so that the floods take milliseconds, well inside the cooldown.
      const floods = await Promise.all(Array.from({ length: 4 }, () => Promise.all(Array.from({ length: 100 }, () => local.sign({}, { kid: randomUUID() })))));
      const flooded = createVerifier({ issuer: local.url, audience: 'beta', cooldown: 1 });
      await flooded.verify(await local.sign());
      assert.equal(local.fetches.jwks, 1);
      const flood = async (tokens: string[]): Promise<void> => {
        const results = await Promise.allSettled(tokens.map((t) => flooded.verify(t)));
        for (const result of results) {
          assert.equal(result.status, 'rejected');
          assert.ok(result.reason instanceof InvalidTokenError && result.reason.reason === 'key', String(result.reason));
        }
      };
      await flood(floods[0] ?? []);
      await flood(floods[1] ?? []);
      assert.equal(local.fetches.jwks, 1, 'no refetch within the cooldown');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await flood(floods[2] ?? []);
      await flood(floods[3] ?? []);
      assert.equal(local.fetches.jwks, 2, 'exactly one refetch after the cooldown, shared by the whole flood');
      assert.equal(local.fetches.discovery, 1);
    } finally {
      await local.close();
    }
  });

  it('refuses a token whose typ is not at+jwt (an ID token, a plain JWT, none at all)', async () => {
    for (const typ of ['JWT', 'jwt', 'application/jwt', 'at+jwt2', 'dpop+jwt']) {
      await assertInvalid(verifier.verify(await issuer.sign({}, { typ })), 'type', /not "at\+jwt"/);
    }
    await assertInvalid(verifier.verify(await issuer.sign({}, { typ: undefined })), 'type');
  });

  it('refuses a token from another issuer, naming both', async () => {
    await assertInvalid(
      verifier.verify(await issuer.sign({ iss: 'https://evil.example' })),
      'issuer',
      new RegExp(`issued by "https://evil.example", not by ${issuer.url}`),
    );
    await assertInvalid(verifier.verify(await issuer.sign({ iss: `${issuer.url}/` })), 'issuer');
    await assertInvalid(verifier.verify(await issuer.sign({ iss: undefined })), 'claims', /no "iss" claim/);
  });

  it('refuses a token for another audience with AUTH_107', async () => {
    for (const aud of ['gamma', ['gamma', 'delta'], 'Beta', 'beta.api', '']) {
      await assert.rejects(verifier.verify(await issuer.sign({ aud })), (error: unknown) => {
        assert.ok(error instanceof InvalidAudienceError, String(error));
        assert.equal(error.code, 'AUTH_107');
        assert.equal(error.status, 401);
        assert.equal(error.error, 'invalid_token');
        assert.match(error.message, /is not beta; ask for a token for this service's domain/);
        return true;
      });
    }
    await assertInvalid(verifier.verify(await issuer.sign({ aud: undefined })), 'claims', /no "aud" claim/);
  });

  it('refuses an expired token, beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await assertInvalid(verifier.verify(await issuer.sign({ iat: now - 7200, nbf: now - 7200, exp: now - 31 })), 'expired', /expired at .*get a new one/);
    await assertInvalid(verifier.verify(await issuer.sign({ exp: undefined })), 'claims', /no "exp" claim/);
    await assertInvalid(verifier.verify(await issuer.sign({ exp: 'tomorrow' })), 'claims');
  });

  it('refuses a token whose nbf is in the future beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await assertInvalid(verifier.verify(await issuer.sign({ nbf: now + 120 })), 'not_yet_valid', /not valid before/);
  });

  it('refuses a token whose iat is in the future beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await assertInvalid(verifier.verify(await issuer.sign({ iat: now + 86_400, nbf: undefined })), 'issued_in_future', /check the issuer's clock/);
    await assertInvalid(verifier.verify(await issuer.sign({ iat: now + 45 })), 'issued_in_future');
    await assertInvalid(verifier.verify(await issuer.sign({ iat: undefined })), 'claims', /no "iat" claim/);
  });

  it('refuses a token without a usable subject or with mistyped role claims', async () => {
    await assertInvalid(verifier.verify(await issuer.sign({ sub: undefined })), 'claims', /no "sub" claim/);
    await assertInvalid(verifier.verify(await issuer.sign({ sub: 42 })), 'claims', /"sub" claim is not a principal/);
    await assertInvalid(verifier.verify(await issuer.sign({ scp: 'readers' })), 'claims', /"scp" must be an array/);
    await assertInvalid(verifier.verify(await issuer.sign({ scope: ['beta:role.readers'] })), 'claims');
  });

  it('refuses a token without a jti or client_id, or with one that is not a non-empty string (RFC 9068 §2.2)', async () => {
    for (const claim of ['jti', 'client_id']) {
      const missing = new RegExp(`no "${claim}" claim, which an access token must carry \\(RFC 9068 section 2\\.2\\)`);
      await assertInvalid(verifier.verify(await issuer.sign({ [claim]: undefined })), 'claims', missing);
      for (const value of [42, '', ['alpha.api'], null]) {
        const mistyped = new RegExp(`"${claim}" claim must be a non-empty string`);
        await assertInvalid(verifier.verify(await issuer.sign({ [claim]: value })), 'claims', mistyped);
      }
    }
  });

  it('refuses a valid token that lacks the required scope with AUTH_102 and names what is missing', async () => {
    const token = await issuer.sign({ scp: ['readers'], scope: 'beta:role.readers' });
    await assert.rejects(verifier.verify(token, { scope: ['beta:role.writers'] }), (error: unknown) => {
      assert.ok(error instanceof InsufficientScopeError);
      assert.equal(error.code, 'AUTH_102');
      assert.equal(error.status, 403);
      assert.equal(error.error, 'insufficient_scope');
      assert.deepEqual(error.requiredScope, ['beta:role.writers']);
      assert.match(error.message, /does not grant beta:role.writers/);
      return true;
    });
    await assert.rejects(
      verifier.verify(token, { roles: { domain: 'beta', roles: ['writers', 'admin'] } }),
      /grants none of beta:role.writers, beta:role.admin/,
    );
    // Exact matching: neither a prefix nor another domain's role of the same name counts.
    await assert.rejects(verifier.verify(await issuer.sign({ scp: ['read'], scope: 'beta:role.read' }), { scope: ['beta:readers'] }), InsufficientScopeError);
    await assert.rejects(
      verifier.verify(await issuer.sign({ scp: ['gamma:writers'], scope: 'gamma:role.writers' }), { scope: ['beta:writers'] }),
      InsufficientScopeError,
    );
  });

  describe('certificate binding (cnf x5t#S256)', () => {
    const certs = selfSignedCertificates(['right', 'wrong']);
    const right = new X509Certificate(certs['right']?.cert ?? '');
    const wrong = new X509Certificate(certs['wrong']?.cert ?? '');
    const thumbprint = createHash('sha256').update(right.raw).digest('base64url');

    it('refuses a bound token presented with another certificate', async () => {
      const token = await issuer.sign({ cnf: { 'x5t#S256': thumbprint } });
      await assertInvalid(verifier.verify(token, { peerCertificate: wrong }), 'binding', /bound to another client certificate/);
      await assertInvalid(verifier.verify(token, { peerCertificate: { raw: wrong.raw } }), 'binding');
      const context = await verifier.verify(token, { peerCertificate: right });
      assert.equal(context.certificateThumbprint, thumbprint);
    });

    it('refuses a bound token from a caller without a certificate', async () => {
      const token = await issuer.sign({ cnf: { 'x5t#S256': thumbprint } });
      await assertInvalid(verifier.verify(token), 'binding', /came without one; call over mutual TLS/);
      await assertInvalid(verifier.verify(token, { peerCertificate: null }), 'binding');
      await assertInvalid(verifier.verify(token, { peerCertificate: () => undefined }), 'binding');
    });

    it('refuses a cnf it cannot check instead of treating the token as a bearer token', async () => {
      for (const cnf of [{ jkt: thumbprint }, { 'x5t#S256': thumbprint, jkt: thumbprint }, {}, 'x', { 'x5t#S256': 'short' }, [thumbprint]]) {
        await assertInvalid(verifier.verify(await issuer.sign({ cnf }), { peerCertificate: right }), 'binding');
      }
    });
  });

  it('refuses an oversized token unread: no JWKS fetch, no parsing', async () => {
    const fetches = issuer.fetches.jwks;
    const huge = await issuer.sign({ padding: 'x'.repeat(9000) });
    await assertInvalid(verifier.verify(huge), 'too_large', /over 8192 are refused unread/);
    await assertInvalid(verifier.verify(`${'a'.repeat(5_000_000)}.b.c`), 'too_large');
    const small = createVerifier({ issuer: issuer.url, audience: 'beta', maxTokenSize: 300 });
    await assertInvalid(small.verify(await issuer.sign()), 'too_large');
    assert.equal(issuer.fetches.jwks, fetches);
  });

  it('refuses malformed tokens: wrong part count, bad base64url, non-JSON header or claims', async () => {
    const good = await issuer.sign();
    const [h, p, s] = good.split('.') as [string, string, string];
    const cases = [
      'not-a-jwt',
      `${h}.${p}`,
      `${h}.${p}.${s}.extra`,
      `${h}.${p}.${s}.x.y`,
      `@@@.${p}.${s}`,
      `${h}.${p}.@@@`,
      `${b64url('not json')}.${p}.${s}`,
      `${b64url('[1,2]')}.${p}.${s}`,
      `${b64url('{"alg":"ES256","kid":"x","typ":"at+jwt"')}.${p}.${s}`,
      `${b64url(JSON.stringify({ kid: issuer.key.kid, typ: 'at+jwt' }))}.${p}.${s}`,
      `${b64url(JSON.stringify({ alg: 'ES256', kid: issuer.key.kid, typ: 'at+jwt', crit: ['exp'], exp: 1 }))}.${p}.${s}`,
    ];
    for (const token of cases) await assertInvalid(verifier.verify(token), 'malformed');
    // The signature covers the encoded claims as sent, so garbage there fails the signature first.
    await assertInvalid(verifier.verify(`${h}.@@@.${s}`), 'signature');
    // A signed token whose claims are not a JSON object: signed correctly, still refused.
    for (const payload of ['not json', '[1,2]', '"string"']) {
      const { CompactSign } = await import('jose');
      const jws = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'ES256', kid: issuer.key.kid, typ: 'at+jwt' })
        .sign(issuer.key.privateKey);
      await assertInvalid(verifier.verify(jws), 'malformed', /not a well-formed signed JWT/);
    }
    await assertInvalid(verifier.verify(''), 'malformed', /no access token/);
    await assertInvalid(verifier.verify(undefined as unknown as string), 'malformed');
  });
});

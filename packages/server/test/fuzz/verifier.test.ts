// Property-based fuzzing of the SDK verifier against a real Tessera: random strings and mutated
// genuine tokens are refused with a VerifierError, never another exception, never accepted.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { createVerifier, VerifierError, type Verifier } from '../../../sdk/src/verifier/index.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { fuzzRuns, HEAP_BOUND_BYTES, heapUsed, tally } from './support.ts';

async function refused(verifier: Verifier, token: string): Promise<void> {
  try {
    await verifier.verify(token);
  } catch (error) {
    assert.ok(error instanceof VerifierError, `unexpected ${String(error)} for token ${JSON.stringify(token).slice(0, 3000)}`);
    return;
  }
  assert.fail(`a random or mutated token was accepted: ${JSON.stringify(token).slice(0, 3000)}`);
}

function sameBytes(a: string, b: string): boolean {
  const decode = (token: string): string[] => token.split('.').map((part) => Buffer.from(part, 'base64url').toString('hex'));
  const [x, y] = [decode(a), decode(b)];
  return x.length === y.length && x.every((part, i) => part === y[i]);
}

describe('fuzz: the SDK verifier refuses random and mutated tokens with a VerifierError', () => {
  let t: TestServer;
  let verifier: Verifier;
  let genuine: string;
  const runs = fuzzRuns();

  before(async () => {
    t = await startTestServer();
    genuine = await t.adminToken();
    const claims = decodeJwt(genuine);
    verifier = createVerifier({ issuer: String(claims.iss), audience: claims.aud as string | string[], ca: t.ca, cacheSize: 0 });
    assert.equal((await verifier.verify(genuine)).principal, claims.sub);
  });
  after(() => t.stop());

  it('random strings and random three-part tokens are refused', async () => {
    const counter = tally('verifier random');
    const heapBefore = heapUsed();
    const b64 = fc.base64String({ maxLength: 200 }).map((s) => s.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_'));
    const token = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.tuple(b64, b64, b64).map((parts) => parts.join('.')),
      fc
        .tuple(fc.jsonValue(), fc.jsonValue(), b64)
        .map(([h, p, s]) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.${s}`),
    );
    await fc.assert(
      fc.asyncProperty(token, async (input) => {
        counter.count();
        await refused(verifier, input);
      }),
      { numRuns: runs },
    );
    assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES);
    counter.done();
  });

  it('mutated genuine tokens (character edits, header and claim swaps) are refused', async () => {
    const counter = tally('verifier mutated');
    const heapBefore = heapUsed();
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    const edit = fc.tuple(fc.nat(), fc.nat(alphabet.length - 1));
    const mutated = fc.oneof(
      fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
        const chars = [...genuine];
        for (const [at, c] of edits) chars[at % chars.length] = alphabet[c]!;
        return chars.join('');
      }),
      fc
        .record({
          alg: fc.constantFrom('none', 'HS256', 'RS256', 'ES384', 'EdDSA'),
          kid: fc.option(fc.string()),
          extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue(), { maxKeys: 3 }),
        })
        .map(
          (h) =>
            `${Buffer.from(JSON.stringify({ ...h.extra, typ: 'at+jwt', alg: h.alg, kid: h.kid ?? undefined })).toString('base64url')}.${payload}.${signature}`,
        ),
      fc
        .dictionary(fc.constantFrom('iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'scp', 'scope', 'cnf'), fc.jsonValue(), { minKeys: 1 })
        .map((claims) => `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(genuine), ...claims })).toString('base64url')}.${signature}`),
    );
    await fc.assert(
      fc.asyncProperty(mutated, async (input) => {
        counter.count();
        // An edit that decodes to the same bytes (the unused low bits of the last base64url
        // character, or '+' for '-') is the same signed token, not a forgery.
        if (sameBytes(input, genuine)) return;
        await refused(verifier, input);
      }),
      { numRuns: runs },
    );
    assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES);
    counter.done();
  });
});

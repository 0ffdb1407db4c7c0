// Timing of secret comparison. A wall-clock test over HTTPS on a noisy 2-core machine cannot tell
// one HMAC from none without being flaky, so this checks the code path instead: a known client
// with a wrong secret and an unknown client make the hasher compare against the same number of
// hashes, and both fail with the same AUTH_101 answer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecretHasher } from '../../src/keys/client-secrets.ts';
import { checkClientSecret, type SecretCheckDeps } from '../../src/oauth2/client-auth/secret.ts';
import { OAuthError } from '../../src/oauth2/errors.ts';

function countingDeps(known: boolean): { deps: SecretCheckDeps; compared: number[] } {
  const compared: number[] = [];
  const hasher = { matches: (_secret: string, hashes: readonly string[]) => { compared.push(hashes.length); return false; } } as unknown as SecretHasher;
  const client = { service: { principal: 'alpha.api' }, secrets: [{ hash: 'h1' }] };
  const store = { getClientForAuth: async () => (known ? client : null) } as unknown as SecretCheckDeps['store'];
  return { deps: { store, hasher }, compared };
}

describe('secret comparison does the same work for known and unknown clients', () => {
  it('an unknown client and a wrong secret both run exactly one comparison over one hash and fail alike', async () => {
    const results: Array<{ compared: number[]; error: unknown }> = [];
    for (const known of [true, false]) {
      const { deps, compared } = countingDeps(known);
      const error = await checkClientSecret(deps, 'alpha.api', 'wrong', Date.now(), true).then(() => undefined, (e: unknown) => e);
      results.push({ compared, error });
    }
    const [wrongSecret, unknown] = results as [typeof results[0], typeof results[0]];
    assert.deepEqual(wrongSecret.compared, [1]);
    assert.deepEqual(unknown.compared, [1], 'an unknown client still pays for one HMAC');
    for (const { error } of [wrongSecret, unknown]) {
      assert.ok(error instanceof OAuthError);
      assert.equal(error.status, 401);
      assert.equal(error.error, 'invalid_client');
    }
    assert.equal((wrongSecret.error as Error).message, (unknown.error as Error).message);
  });
});

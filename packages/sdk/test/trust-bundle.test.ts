// A long-running service keeps talking to Tessera across a CA rotation with the ca.pem it started
// with: its token client and verifier refetch Tessera's trust bundle in the background, so they
// already trust the new root when the server's own certificate switches to the new generation.
// With the refetch turned off, the same sequence loses the connection (a TLS chain error).
//
// The server's clock is injected and starts 25 days in the past, so every certificate issued
// along the way is also valid at the real time the TLS clients check it against; the SDK times its
// refetches with the real clock, so its intervals here are short and real.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { send } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTokenClient, createVerifier, InvalidTokenError, TokenClientError, type AuthContext } from '../src/index.ts';
import { sleep } from './helpers/load.ts';

const DAY = 86_400_000;
const SCOPE = 'beta:domain';
/** The JWKS max-age: a verifier in use asks Tessera for its keys again after a second. */
const WINDOWS = { TESSERA_JWKS_MAX_AGE: '1', TESSERA_SIGNING_PRE_PUBLICATION: '2', TESSERA_SIGNING_CHECK_INTERVAL: '1' };
/** Long enough for a refetch started in the background to end on loopback. */
// Long enough for the background bundle fetch (a TLS handshake) on a loaded 2-core machine.
const SETTLE_MS = 2000;

interface AfterSwitch {
  /** The token client's first token request after the switch. */
  token: PromiseSettledResult<string>;
  /** The verifier, on a token signed by a key published after the switch. */
  verified: PromiseSettledResult<AuthContext>;
  newKid: string;
  /** The kids in the server's JWKS after the switch, read with the current bundle. */
  publishedKids: string[];
}

describe('trust follows a CA rotation', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((t) => t.stop())));

  /** A service made at start with the startup bundle, working through a CA rotation and then a signing-key rotation. */
  async function acrossCaRotation(bundleRefresh: number): Promise<AfterSwitch> {
    let clock = Date.now() - 25 * DAY;
    const t = await startTestServer({ now: () => clock, env: WINDOWS });
    servers.push(t);
    const startup = t.ca; // t.ca follows the server; the service keeps this one
    assert.equal((await t.admin$('POST', '/domains', { name: 'beta' })).status, 201);
    const created = await t.admin$('POST', '/domains/beta/services', { name: 'api' });
    assert.equal(created.status, 201, created.text);
    const secret = created.json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] })).status, 201);

    const client = createTokenClient({
      issuer: t.url,
      ca: startup,
      bundleRefresh,
      credentials: { clientId: 'beta.api', clientSecret: secret },
      retry: { maxAttempts: 1 },
    });
    // No token cache and no unknown-kid cooldown: every verify below that needs keys asks the server.
    const verifier = createVerifier({ issuer: t.url, audience: 'beta', ca: startup, bundleRefresh, cacheSize: 0, cooldown: 0, now: () => clock });
    try {
      // A distinct expiresIn is a distinct cache entry, so each call is a token request.
      await verifier.verify(await client.getAccessToken({ scope: SCOPE, expiresIn: 600 }));

      const rotation = await t.admin$('POST', '/ca/rotate');
      assert.equal(rotation.status, 202, rotation.text);
      // The service goes on working during the pre-publication window (here past its JWKS max-age
      // and bundleRefresh): that is when it can learn the new root.
      await sleep(Math.max(bundleRefresh * 1000, 1000) + 100);
      await verifier.verify(await client.getAccessToken({ scope: SCOPE, expiresIn: 601 }));
      await sleep(SETTLE_MS);

      clock = Date.parse(rotation.json.activatesAt as string);
      await t.server.ca.refresh();
      // Idle keep-alive connections end, as they do after the server's keep-alive timeout: what
      // follows needs new handshakes with the new certificate.
      t.server.app.server.closeIdleConnections();
      await sleep(100);
      await assert.rejects(send(`${t.url}/healthz`, { ca: startup }), /certificate/, 'the server now presents a chain the startup bundle does not verify');

      const keyRotation = await t.admin$('POST', '/signing-keys/rotate');
      assert.equal(keyRotation.status, 202, keyRotation.text);
      const newKid = keyRotation.json.kid as string;
      clock = Date.parse(keyRotation.json.activatesAt as string);
      await t.server.signingKeys.refresh();
      const issued = await t.token('beta.api', secret, { grant_type: 'client_credentials', scope: SCOPE });
      assert.equal(issued.status, 200, issued.text);
      const signedByNewKey = issued.json.access_token as string;
      assert.equal(decodeProtectedHeader(signedByNewKey).kid, newKid);
      const publishedKids = ((await t.send('/oauth2/keys')).json.keys as { kid: string }[]).map((key) => key.kid);

      const [token, verified] = await Promise.allSettled([client.getAccessToken({ scope: SCOPE, expiresIn: 602 }), verifier.verify(signedByNewKey)]);
      return { token, verified, newKid, publishedKids };
    } finally {
      await client.close();
    }
  }

  it('the token client and the verifier made with the startup bundle keep working after the server certificate switched', async () => {
    const { token, verified, newKid } = await acrossCaRotation(0.2);
    assert.equal(token.status, 'fulfilled', token.status === 'rejected' ? String(token.reason) : '');
    assert.equal(decodeProtectedHeader(token.value).kid, newKid, 'a token issued after the switch');
    assert.equal(verified.status, 'fulfilled', verified.status === 'rejected' ? String(verified.reason) : '');
    assert.equal(verified.value.principal, 'beta.api');
  });

  it('with bundleRefresh: 0 the same sequence loses the connection to Tessera', async () => {
    const { token, verified, newKid, publishedKids } = await acrossCaRotation(0);
    assert.equal(token.status, 'rejected');
    assert.ok(token.reason instanceof TokenClientError);
    assert.equal(token.reason.code, 'ERR_TOKEN_NETWORK');
    assert.match(token.reason.message, /certificate/);
    // The verifier could not fetch the new JWKS (same TLS failure); its stale key set lacks the
    // new key, which the server does publish.
    assert.ok(publishedKids.includes(newKid));
    assert.equal(verified.status, 'rejected');
    assert.ok(verified.reason instanceof InvalidTokenError);
    assert.equal(verified.reason.reason, 'key');
  });
});

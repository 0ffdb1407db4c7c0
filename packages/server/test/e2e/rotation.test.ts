// Signing-key rotation seen from outside: a forced rotation publishes the new key before it
// signs, tokens signed before the switch keep verifying, and the old key leaves the JWKS only
// after every token it signed has expired. The clock is the server's injected one.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('signing-key rotation', () => {
  let t: TestServer;
  let clock = Date.now();
  let secret: string;
  const scope = { grant_type: 'client_credentials', scope: 'beta:domain' };

  before(async () => {
    t = await startTestServer({ now: () => clock });
    await t.admin$('POST', '/domains', { name: 'beta' });
    secret = (await t.admin$('POST', '/domains/beta/services', { name: 'api' })).json.clientSecret;
    await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] });
  });
  after(() => t.stop());

  const jwks = async (): Promise<JSONWebKeySet> => (await t.send('/oauth2/keys')).json as JSONWebKeySet;
  const kids = async (): Promise<string[]> => (await jwks()).keys.map((k) => k.kid!);
  const issue = async (): Promise<string> => {
    // The longest lifetime, so the token outlives the pre-publication window and must still verify.
    const res = await t.token('beta.api', secret, { ...scope, expires_in: '86400' });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  it('publishes the next key before it signs, switches at activation, and retires the old key after its tokens expire', async () => {
    const before = await issue();
    const oldKid = decodeProtectedHeader(before).kid!;
    assert.deepEqual(await kids(), [oldKid]);

    const rotate = await t.admin$('POST', '/signing-keys/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    const newKid = rotate.json.kid as string;
    assert.notEqual(newKid, oldKid);
    const activatesAt = Date.parse(rotate.json.activatesAt);
    assert.equal(activatesAt - clock, t.server.config.signing.prePublication * 1000, 'waits the whole pre-publication window');

    // Published at once, not yet signing.
    assert.deepEqual((await kids()).sort(), [oldKid, newKid].sort());
    assert.equal(decodeProtectedHeader(await issue()).kid, oldKid);

    // A second forced rotation while one is pending reports the pending key.
    const again = await t.admin$('POST', '/signing-keys/rotate');
    assert.equal(again.json.kid, newKid);
    assert.equal(again.json.created, false);

    clock = activatesAt;
    const after = await issue();
    assert.equal(decodeProtectedHeader(after).kid, newKid, 'signs with the new key from activatesAt on');

    await t.server.signingKeys.refresh();
    const states = (await t.admin$('GET', '/signing-keys')).json.keys as { kid: string; state: string; removeAt: string | null }[];
    assert.equal(states.find((k) => k.kid === newKid)?.state, 'active');
    const retired = states.find((k) => k.kid === oldKid);
    assert.equal(retired?.state, 'retired');

    // The token from before the rotation still verifies against the published keys.
    const keySet = createLocalJWKSet(await jwks());
    const verifyAt = (token: string) => jwtVerify(token, keySet, { issuer: t.url, currentDate: new Date(clock) });
    await verifyAt(before);
    await verifyAt(after);

    // After the retention window (max token lifetime + skew) the old key is removed.
    clock = Date.parse(retired!.removeAt!) + 1;
    await t.server.signingKeys.refresh();
    assert.deepEqual(await kids(), [newKid]);

    const audit = (await t.admin$('GET', '/audit?type=signing-key.activate')).json.events;
    assert.equal(audit.length, 1);
  });

  it('requires a system admin', async () => {
    const res = await t.send('/admin/v1/signing-keys/rotate', { method: 'POST' });
    assert.equal(res.status, 401);
  });
});

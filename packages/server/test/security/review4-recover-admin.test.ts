// Review 4 (outside attacker): `tessera recover-admin` is what an operator runs when the admin
// credential is lost, which in practice includes "leaked" (it says older secrets stop working).
// An attacker who held sys.auth.admin's secret for a while registers a key of their own on that
// very service; recover-admin replaces the secrets only, so the attacker is still a system admin
// after the recovery. FAILS while a key registered on sys.auth.admin survives recover-admin.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { recoverAdmin } from '../../src/admin/recover.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('review4: recover-admin after the admin secret leaked', () => {
  let t: TestServer | undefined;
  after(async () => {
    await t?.stop();
  });

  it('leaves no credential the attacker planted on sys.auth.admin working', async () => {
    t = await startTestServer();
    const server = t;
    // The attacker, with the leaked bootstrap secret, adds a key to the admin service itself.
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const planted = await server.admin$('PUT', '/domains/sys.auth/services/admin/keys/backdoor', { pem });
    assert.ok(planted.status === 200 || planted.status === 201, planted.text);

    const adminToken = async (): Promise<{ status: number; text: string }> => {
      const tokenEndpoint = `${server.url}/oauth2/token`;
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ iss: 'sys.auth.admin', sub: 'sys.auth.admin', aud: tokenEndpoint, iat: now, exp: now + 60, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'backdoor' })
        .sign(attacker.privateKey);
      return server.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'sys.auth:role.admin',
          client_assertion_type: JWT_BEARER,
          client_assertion: assertion,
        }).toString(),
      });
    };
    assert.equal((await adminToken()).status, 200, 'the planted key works before the recovery');

    // The operator notices and recovers, beside the running server.
    const config = loadConfig({ flags: { dataDir: server.dataDir }, env: {}, cwd: server.dataDir });
    await recoverAdmin(config, { force: true });
    // The old secret stops working within the feed's reach.
    const deadline = Date.now() + 3000;
    while (
      (await server.token(server.admin.clientId, server.admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' })).status === 200
    ) {
      if (Date.now() > deadline) assert.fail('the old secret still works 3 s after recover-admin');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = await adminToken();
    assert.notEqual(after.status, 200, `after recover-admin the attacker's key on sys.auth.admin still gets a system admin token: ${after.text.slice(0, 80)}`);
  });
});

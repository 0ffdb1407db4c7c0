// Review 6 (outside attacker): certificate login takes client_secret_basic, but names the client a
// request claims from the form's client_id only, where the token, introspection and revocation
// endpoints also read the Basic user (form-endpoint.ts claimedClientId). Guessing a client's
// secret over Basic at /auth/x509/login then raises no per-client auth-failure alert and the
// refusals name no client, while the same guesses at /oauth2/token do. FAILS while the hole exists.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';

async function alertTargets(t: TestServer, adminToken: string): Promise<string[]> {
  await t.server.flushAudit();
  const alerts = await t.admin$('GET', '/audit?type=alert.auth-failures', undefined, adminToken);
  assert.equal(alerts.status, 200, alerts.text);
  return (alerts.json.events as { target: string }[]).map((event) => event.target).sort();
}

describe('review6: the client a Basic request at certificate login claims', () => {
  let t: TestServer;
  let adminToken: string;
  before(async () => {
    t = await startTestServer({ edit: (config) => void (config.certLogin.enabled = true) });
    adminToken = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, adminToken)).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'victim', secret: true }, adminToken)).status, 201);
  });
  after(() => t.stop());

  it('wrong Basic secrets for alpha.victim at /auth/x509/login raise the per-client alert, as they do at /oauth2/token', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await t.send('/auth/x509/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('alpha.victim', `guess-${i}`) },
        body: 'scope=alpha%3Adomain',
      });
      assert.equal(res.status, 401, res.text);
    }
    const targets = await alertTargets(t, adminToken);
    assert.ok(targets.includes('ip:127.0.0.1'), `precondition: the per-address alert fired (${targets.join(', ')})`);
    assert.ok(
      targets.includes('alpha.victim'),
      `12 wrong Basic secrets for alpha.victim at /auth/x509/login raised no alert for alpha.victim (alerts: ${targets.join(', ')}); the login path claims only form client_id`,
    );
  });
});

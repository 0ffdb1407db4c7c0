// Review 4 (outside attacker): Tessera's own HTTPS certificate now names the issuer host, and the
// CLI and SDK trust Tessera's CA (ca.pem) to check it. The same CA gives every service a serverAuth
// certificate for `<service>.<domain with dashes>.<ca.dnsSuffix>`. When the issuer host has that
// shape (an operator who put ca.dnsSuffix on the internal zone Tessera lives in), the admin of
// one domain names a service so that its certificate is for Tessera's own host, and can then
// answer as Tessera to every client that trusts ca.pem: client secrets, admin secrets included,
// go to them. FAILS while a service can get a certificate for the issuer's host.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createServer, connect } from 'node:tls';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';

describe('review4: a service certificate for the issuer host', () => {
  let t: TestServer | undefined;
  after(async () => {
    await t?.stop();
  });

  it('is never issued (else a domain admin impersonates Tessera to clients that trust ca.pem)', async () => {
    const host = 'tessera.platform.example.internal';
    const port = await freePort();
    try {
      t = await startTestServer({ flags: { issuer: `https://${host}:${port}` }, env: { TESSERA_CA_DNS_SUFFIX: 'example.internal' } });
    } catch (error) {
      // Refusing the configuration (an issuer host inside the service namespace) is a fix too.
      assert.match(String(error), /dnsSuffix|issuer/i);
      return;
    }
    const server = t;
    // Domain `platform` and its service `tessera`: what a domain admin may create.
    assert.equal((await server.admin$('POST', '/domains', { name: 'platform' })).status, 201);
    assert.equal((await server.admin$('POST', '/domains/platform/services', { name: 'tessera' })).status, 201);
    const join = await server.admin$('POST', '/join-tokens', { principal: 'platform.tessera' });
    assert.equal(join.status, 201, join.text);
    const key = await serviceKey('ec');
    const issued = await server.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(key, { dnsNames: [host] }), proof: { type: 'join-token', value: join.json.token } }),
    });
    if (issued.status >= 400) return;

    // The impostor serves with it; a client that trusts ca.pem dials the issuer host.
    const impostor = createServer({ key: key.privatePem, cert: `${issued.json.certificate}${issued.json.chain ?? ''}` }, (socket) => socket.end());
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const impostorPort = (impostor.address() as { port: number }).port;
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: impostorPort, servername: host, ca: server.ca }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    impostor.close();
    assert.equal(
      accepted,
      false,
      `service platform.tessera got a certificate for ${host}, the issuer's host, and a client trusting ca.pem accepted it as Tessera`,
    );
  });
});

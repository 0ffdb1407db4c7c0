// Review 5 (outside attacker): `tessera verify` and where it takes the keys it trusts. The
// discovery document comes over https (checked against --cacert), but the CLI then fetches the
// jwks_uri it names wherever that is, plain http to another host included: whoever is on that
// path (no TLS) serves keys of their own, and verify calls their tokens valid. FAILS while verify
// accepts a token checked against keys fetched in clear from a non-loopback host.

import '../helpers/test-hosts.ts';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { exportJWK, SignJWT } from 'jose';

import { makeWorkspace, runCli } from '../helpers/cli.ts';
import { createTestPki } from '@tessera/testkit/pki';

describe('review5: tessera verify and the jwks_uri of an https discovery document', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('does not fetch keys over plain http from a non-loopback host', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(attacker.publicKey)), kid: 'k', alg: 'ES256', use: 'sig' };
    const jwksRequests: string[] = [];
    // The plain-http hop, where anyone on the path answers.
    const onPath = http.createServer((req, res) => {
      jwksRequests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => onPath.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => void onPath.close());
    const jwksUri = `http://other.test:${(onPath.address() as AddressInfo).port}/jwks`;

    const pki = createTestPki();
    cleanup.push(() => pki.dispose());
    const issuerServer = https.createServer(pki.server, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://tessera.test', jwks_uri: jwksUri }));
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => void issuerServer.close());
    const server = `https://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;

    const cwd = await makeWorkspace();
    cleanup.push(() => rm(cwd, { recursive: true, force: true }));
    const ca = path.join(cwd, 'ca.pem');
    await writeFile(ca, pki.ca.cert);
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ scope: 'beta:role.admin', client_id: 'evil.svc', jti: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k', typ: 'at+jwt' })
      .setIssuer('https://tessera.test')
      .setSubject('evil.svc')
      .setAudience('beta')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(attacker.privateKey);
    const result = await runCli(['verify', forged, '--server', server, '--cacert', ca, '--audience', 'beta'], { cwd, env: {} });
    assert.notEqual(
      result.code,
      0,
      `verify accepted a token checked against keys fetched over plain http from ${jwksUri} (discovery at ${server}); requests there: ${jwksRequests.length}`,
    );
  });
});

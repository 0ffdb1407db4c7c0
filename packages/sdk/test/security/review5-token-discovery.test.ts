// Review 5 (outside attacker): the SDK token client's discovery. The issuer's metadata must name
// the same issuer, but its token_endpoint may be anything matching ^https?://, so a metadata
// document (or a misconfigured server) can send the secret over plain http to another host. The
// verifier refuses such a jwks_uri (http only to loopback); the token client should hold its
// secret to at least that rule. FAILS while the secret goes in clear to a non-loopback host.

import '../../../cli/test/helpers/test-hosts.ts';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createTokenClient } from '../../src/index.ts';

const SECRET = 'review5-discovery-secret';

describe('review5: SDK token endpoint from discovery', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  it('does not send the secret over plain http to a non-loopback token_endpoint the metadata names', async () => {
    const received: string[] = [];
    const onPath = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push(body + JSON.stringify(req.headers));
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
      });
    });
    await new Promise<void>((resolve) => onPath.listen(0, '127.0.0.1', resolve));
    servers.push(onPath);
    const tokenEndpoint = `http://other.test:${(onPath.address() as AddressInfo).port}/oauth2/token`;
    let issuer = '';
    const metadata = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, token_endpoint: tokenEndpoint }));
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    servers.push(metadata);
    issuer = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;

    const client = createTokenClient({ issuer, credentials: { clientId: 'alpha.api', clientSecret: SECRET }, retry: { attempts: 1 } } as never);
    await client.getAccessToken({ domain: 'beta' }).catch(() => undefined);
    await client.close?.();
    const basic = Buffer.from(`alpha.api:${SECRET}`).toString('base64');
    assert.equal(
      received.some((text) => text.includes(SECRET) || text.includes(basic)),
      false,
      `the client secret went over plain http to ${tokenEndpoint}, named by the issuer's metadata`,
    );
  });
});

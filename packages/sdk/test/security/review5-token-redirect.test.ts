// Review 5 (outside attacker): where the SDK's token client sends a secret when the caller gives
// it a `fetch` (fetchTransport). The built-in node:https transport follows no redirect, and the
// verifier asks fetch for `redirect: 'manual'`; the token client's fetch path asks for nothing, so
// fetch follows a 307/308 and POSTs the same body (client_secret_post: the secret;
// private_key_jwt: the assertion) to wherever it points. FAILS while a redirect carries the secret
// to another origin.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createTokenClient } from '../../src/index.ts';

const SECRET = 'review5-sdk-secret';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('review5: SDK token client with a caller-given fetch', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  it('does not follow a token endpoint redirect to another origin with the secret', async () => {
    const received: string[] = [];
    const elsewhere = await listen((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push(body + JSON.stringify(req.headers));
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
      });
    });
    servers.push(elsewhere.server);
    // The token endpoint (or a proxy in front of it, or whoever answers for its name) redirects.
    const tessera = await listen((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${elsewhere.url}/collect` }).end();
    });
    servers.push(tessera.server);

    const client = createTokenClient({
      tokenEndpoint: `${tessera.url}/oauth2/token`,
      credentials: { clientId: 'alpha.api', clientSecret: SECRET, method: 'client_secret_post' },
      fetch: (input: string, init: RequestInit) => fetch(input, init),
      retry: { attempts: 1 },
    } as never);
    await client.getAccessToken({ domain: 'beta' }).catch(() => undefined);
    await client.close?.();
    assert.equal(
      received.some((text) => text.includes(SECRET)),
      false,
      `the client secret was POSTed to ${elsewhere.url}, where the token endpoint's 307 pointed`,
    );
  });
});

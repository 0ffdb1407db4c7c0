// Plain HTTP sent to the HTTPS port gets a plain HTTP/1.1 400 that names the https URL (curl
// would otherwise print "Empty reply from server"), is counted and logged as a refusal, and
// gives its connection back to the connection caps.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawExchange } from '../helpers/raw-http.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('plain HTTP to the HTTPS port', () => {
  let t: TestServer;
  const lines: { msg: string; reason?: string }[] = [];
  before(async () => {
    t = await startTestServer({
      flags: { logLevel: 'warn' },
      // One connection per address: a plain-HTTP connection that was not released would lock the address out.
      env: { TESSERA_MAX_CONNECTIONS_PER_ADDRESS: '1' },
      logStream: { write: (line) => void lines.push(JSON.parse(line) as { msg: string }) },
    });
  });
  after(() => t.stop());

  it('is answered 400 with the https URL to use, then closed', async () => {
    const port = Number(new URL(t.url).port);
    const answer = await rawExchange(port, 'GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const [head, body] = answer.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(head!, /\r\nConnection: close(\r\n|$)/);
    assert.deepEqual(JSON.parse(body!), {
      error: 'invalid_request',
      message: `this port speaks HTTPS, not plain HTTP: send the request to https://127.0.0.1:${port}/`,
    });
  });

  it('counts and logs the refusal, and frees the connection for the caps', async () => {
    const port = Number(new URL(t.url).port);
    await rawExchange(port, 'POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    // The address may hold one connection: it was given back.
    assert.equal((await t.send('/.well-known/jwks.json', { headers: { connection: 'close' } })).status, 200);
    const metrics = (await t.server.app.inject({ url: '/metrics' })).body;
    assert.match(metrics, /^tessera_connections_refused_total\{reason="plain_http"\} 2$/m);
    assert.ok(
      lines.some((line) => line.reason === 'plain_http' && /plain HTTP to this HTTPS port/.test(line.msg)),
      JSON.stringify(lines),
    );
  });
});

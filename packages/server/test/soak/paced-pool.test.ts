// The soak's open-loop load generator keeps idle keep-alive connections; a server closes those
// after its keep-alive timeout (Fastify's is 72 s), and a request written to one was never
// answered nor failed: the soak counted it as a timeout of Tessera's.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionPool } from '../../../../bench/harness/paced.ts';

test('a request on a connection the server closed while it was idle is still answered', async () => {
  const server = createServer((_req, res) => res.setHeader('content-type', 'application/json').end('{"ok":true}'));
  server.keepAliveTimeout = 100;
  let closedByServer = 0;
  server.on('connection', (socket) => socket.on('close', () => (closedByServer += 1)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = new ConnectionPool({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`, headers: {}, body: '' }, 4);
  try {
    const outcomes: string[] = [];
    pool.settle((_due, outcome) => outcomes.push(outcome));
    const sendAndWait = async (count: number): Promise<void> => {
      const expected = outcomes.length + count;
      for (let i = 0; i < count; i += 1) pool.send(performance.now());
      for (let waited = 0; outcomes.length < expected && waited < 5000; waited += 10) await sleep(10);
    };
    await sendAndWait(4);
    for (let waited = 0; closedByServer < 4 && waited < 5000; waited += 10) await sleep(10);
    assert.equal(closedByServer, 4, 'the server closed every idle connection');
    await sendAndWait(4);
    assert.deepEqual(outcomes, Array(8).fill('200'));
  } finally {
    pool.close();
    server.closeAllConnections();
    server.close();
  }
});

// close() must leave nothing behind: a process that used the client and closed it exits on its
// own, with no timer, socket or request still holding the event loop.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';
import { startFakeHttpServer, tokenAnswer, type FakeHttpServer } from '@tessera/testkit/token-server';

const SDK = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** The child gets a token (which arms a refresh timer and leaves a keep-alive socket), then maybe closes. */
const CHILD = `
import { createTokenClient } from ${JSON.stringify(SDK)};
const { ENDPOINT, CA, CLOSE, SCOPES } = process.env;
const client = createTokenClient({ tokenEndpoint: ENDPOINT, ca: CA, credentials: { clientId: 'alpha.api', clientSecret: 's3cret' } });
const calls = SCOPES.split(',').map((scope) => client.getAccessToken({ scope }).then(() => 'token', (error) => error.code));
if (process.env.WAIT === '1') console.log(JSON.stringify(await Promise.all(calls)));
else await new Promise((resolve) => setTimeout(resolve, 200));
if (CLOSE === '1') await client.close();
console.log(JSON.stringify(await Promise.all(calls)));
// One turn of the loop lets destroyed sockets finish closing; stdout and stderr are pipes to the parent.
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify(process.getActiveResourcesInfo().filter((name) => name !== 'PipeWrap' && name !== 'TTYWrap')));
`;

interface ChildOutcome {
  exited: boolean;
  lines: string[];
}

async function runChild(env: Record<string, string>, waitMs: number): Promise<ChildOutcome> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = once(child, 'exit');
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), waitMs).unref());
  const outcome = await Promise.race([exit.then(() => 'exited' as const), timeout]);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exit;
  }
  assert.equal(stderr, '', stderr);
  return { exited: outcome === 'exited', lines: stdout.trim().split('\n') };
}

describe('close()', () => {
  let pki: TestPki;
  let server: FakeHttpServer;
  let hang = false;
  before(async () => {
    pki = createTestPki();
    server = await startFakeHttpServer((request) => (hang ? new Promise(() => {}) : tokenAnswer(request, 3600)), {
      cert: pki.server.cert,
      key: pki.server.key,
    });
  });
  after(async () => {
    await server.close();
    pki.dispose();
  });

  const env = (close: boolean, scopes = 'beta:domain,gamma:domain'): Record<string, string> => ({
    ENDPOINT: `${server.url}/oauth2/token`,
    CA: pki.ca.cert,
    CLOSE: close ? '1' : '0',
    SCOPES: scopes,
    WAIT: '1',
  });

  it('lets a process that used the client exit by itself once it is closed', async () => {
    const { exited, lines } = await runChild(env(true), 10_000);
    assert.ok(exited, 'the child exited on its own');
    assert.deepEqual(lines, ['["token","token"]', '["token","token"]', '[]']);
  });

  it('keeps a process alive while it is not closed (the refresh timers are real)', async () => {
    const { exited, lines } = await runChild(env(false), 1500);
    assert.equal(exited, false);
    assert.deepEqual(JSON.parse(lines.at(-1)!), ['Timeout', 'Timeout'], 'one refresh timer per token');
  });

  it('aborts requests in flight and still exits', async () => {
    hang = true;
    try {
      const { exited, lines } = await runChild({ ...env(true), WAIT: '0' }, 10_000);
      assert.ok(exited);
      assert.deepEqual(lines, ['["ERR_CLIENT_CLOSED","ERR_CLIENT_CLOSED"]', '[]']);
    } finally {
      hang = false;
    }
  });
});

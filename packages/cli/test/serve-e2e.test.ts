// The real thing: `tessera serve` as its own process on an empty data dir, the admin CLI
// against it over HTTPS with the CA and credential it wrote, and a kill -9 in the middle of
// acknowledged admin writes, after which every acknowledged write must still be there.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run, type CliIo } from '../src/main.ts';
import { freePort } from '@tessera/testkit/port';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

function serve(dataDir: string, port: number): ChildProcess {
  return spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--listen', `https://127.0.0.1:${port}`, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Polls /readyz until it answers 200; returns the milliseconds it took. */
async function waitReady(dataDir: string, port: number, started: number): Promise<number> {
  const { request } = await import('node:https');
  for (;;) {
    const ready = await new Promise<boolean>((resolve) => {
      readFile(join(dataDir, 'ca.pem'), 'utf8').then(
        (ca) => {
          const req = request(`https://127.0.0.1:${port}/readyz`, { ca, timeout: 1000 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
          });
          req.on('error', () => resolve(false));
          req.end();
        },
        () => resolve(false),
      );
    });
    if (ready) return Date.now() - started;
    if (Date.now() - started > 30_000) throw new Error('tessera serve did not become ready within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function capture(cwd: string): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env: {}, cwd },
    out: () => out,
    err: () => err,
  };
}

describe('tessera serve, end to end', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('starts on an empty data dir, serves the admin CLI, and keeps every acknowledged write through kill -9', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-serve-'));
    dirs.push(dataDir);
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const common = ['--server', server, '--cacert', join(dataDir, 'ca.pem'), '--credentials', join(dataDir, 'bootstrap-admin.json')];

    const started = Date.now();
    const first = serve(dataDir, port);
    children.push(first);
    const readyMs = await waitReady(dataDir, port, started);
    console.log(`# first start: /readyz answered 200 ${readyMs} ms after spawn (empty data dir)`);

    const created = capture(dataDir);
    assert.equal(await run(['admin', 'domain', 'create', 'crash', ...common], created.io), 0, created.err());

    // Acknowledged writes, then kill -9 right after the last acknowledgement.
    const acknowledged: string[] = [];
    for (let i = 0; i < 25; i += 1) {
      const c = capture(dataDir);
      const code = await run(['admin', 'role', 'put', `crash:role.r${i}`, '--member', `crash.svc${i}`, ...common], c.io);
      assert.equal(code, 0, c.err());
      acknowledged.push(`r${i}`);
    }
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    const restarted = Date.now();
    const second = serve(dataDir, port);
    children.push(second);
    console.log(`# restart after kill -9: ready in ${await waitReady(dataDir, port, restarted)} ms`);

    const listed = capture(dataDir);
    assert.equal(await run(['admin', 'role', 'list', 'crash', '--json', ...common], listed.io), 0, listed.err());
    const roles = (JSON.parse(listed.out()) as { roles: { name: string; members: { principal: string }[] }[] }).roles;
    const found = new Set(roles.map((r) => r.name));
    const missing = acknowledged.filter((name) => !found.has(name));
    console.log(`# writes acknowledged: ${acknowledged.length}, found after kill -9: ${acknowledged.length - missing.length}`);
    assert.deepEqual(missing, []);
    for (const role of roles) assert.equal(role.members.length, 1);

    second.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => second.once('exit', resolve)), 0, 'SIGTERM shuts down cleanly');
  });
});

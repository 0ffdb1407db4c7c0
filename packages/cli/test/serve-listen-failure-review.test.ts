// Review finding: `tessera serve` on PostgreSQL whose listen fails (the port is taken) reports
// "cannot start the server" but never exits: the server it built is not closed, and the registry
// cache's LISTEN connection keeps the process alive, so a supervisor never restarts it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../server/test/storage/postgres-database.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

describe('tessera serve on PostgreSQL when its port is taken', () => {
  let db: TestDatabase;
  let dataDir: string;
  let busy: Server;
  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-listen-failure-'));
    busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
  });
  after(async () => {
    busy.close();
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  });

  for (const workers of ['1', '2']) {
    it(`exits non-zero instead of lingering with its database connections (--workers ${workers})`, async () => {
      await refusedToListen(workers);
    });
  }

  async function refusedToListen(workers: string): Promise<void> {
    const port = (busy.address() as { port: number }).port;
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--workers', workers, '--data-dir', dataDir, '--database', db.url, '--listen', `http://127.0.0.1:${port}`, '--log-level', 'silent'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TESSERA_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') } },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const timeout = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref());
    const outcome = await Promise.race([exited, timeout]);
    if (outcome === 'still running') child.kill('SIGKILL');
    assert.match(stderr, /EADDRINUSE/);
    assert.notEqual(outcome, 'still running', `still running 20 s after: ${stderr.trim()}`);
    assert.notEqual(outcome[0], 0);
  }
});

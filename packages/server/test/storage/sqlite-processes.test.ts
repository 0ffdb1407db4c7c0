// Several processes on one SQLite file, as `tessera serve --workers N` runs them: their audit
// batches and other writes wait for each other (WAL, busy timeout) instead of failing.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { openStore } from '../../src/storage/open.ts';

const WRITER = join(import.meta.dirname, 'sqlite-audit-writers.ts');

function writer(path: string, tag: string, batches: number, size: number): Promise<{ failures: string[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WRITER, path, tag, String(batches), String(size)], (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as { failures: string[] });
    });
  });
}

void describe('SQLite shared by processes', () => {
  void it('takes concurrent audit batches from three processes, and admin writes meanwhile, without an error', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-sqlite-procs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'tessera.db');
    // Migrated once first, as worker 0 does before the others start.
    const store = await openStore({ kind: 'sqlite', path });
    const writers = ['w0', 'w1', 'w2'].map((tag) => writer(path, tag, 40, 500));
    let adminWrites = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      await store.appendAudit({ at: Date.now(), actor: 'sys.auth.admin', type: 'domain.create', target: `d${adminWrites}`, before: null, after: {} });
      adminWrites += 1;
    }
    const results = await Promise.all(writers);
    await store.close();
    assert.deepEqual(
      results.map((result) => result.failures),
      [[], [], []],
    );
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const count = (type: string): number => Number((db.prepare('SELECT count(*) AS n FROM audit_events WHERE type = ?').get(type) as { n: number }).n);
      assert.equal(count('token.issued'), 3 * 40 * 500);
      assert.equal(count('domain.create'), adminWrites);
    } finally {
      db.close();
    }
  });
});

/** Holds the write lock of the database at `path` for `ms` in a process of its own; resolves once it holds it. */
async function holdWriteLock(path: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `
    const { DatabaseSync } = require('node:sqlite');
    const db = new DatabaseSync(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('held\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));`;
  const child = execFile(process.execPath, ['-e', script, path, String(ms)]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('held')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before it held the lock`)));
  });
  return { released: new Promise((resolve) => child.once('exit', () => resolve())) };
}

void describe('SQLite write lock held by another process', () => {
  void it('is waited for without stopping the event loop, and the write then succeeds', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-sqlite-lock-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'tessera.db');
    const store = await openStore({ kind: 'sqlite', path });
    try {
      const holder = await holdWriteLock(path, 600);
      let ticks = 0;
      const ticker = setInterval(() => (ticks += 1), 10);
      const started = Date.now();
      try {
        await store.appendAudit({ at: Date.now(), actor: 'sys.auth.admin', type: 'domain.create', target: 'waited', before: null, after: {} });
      } finally {
        clearInterval(ticker);
      }
      const waited = Date.now() - started;
      await holder.released;
      assert.ok(waited >= 300, `the write went through while another process held the lock (${waited} ms)`);
      // A busy handler sleeping on the event loop would leave no tick in that time.
      assert.ok(ticks >= waited / 10 / 3, `${ticks} ticks of 10 ms in ${waited} ms`);
      const events = await store.queryAudit({ type: 'domain.create', limit: 10 });
      assert.deepEqual(
        events.map((event) => event.target),
        ['waited'],
      );
    } finally {
      await store.close();
    }
  });
});

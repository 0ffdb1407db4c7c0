// What restore writes is what it checked: the database is hashed again while it is copied, and
// the small files (master.key, bootstrap-admin.json) are read from the archive once only.

import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listEntries } from '../../src/backup/archive.ts';
import type { ArchiveEntry } from '../../src/backup/archive.ts';
import { createBackup, loadConfig, restoreBackup } from '../../src/backup/index.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

type Read = (...args: unknown[]) => Promise<unknown>;

/** Runs `body` with FileHandle.read wrapped by `spy` (every handle shares the prototype). */
async function withReads<T>(spy: (position: unknown, read: () => Promise<unknown>) => Promise<unknown>, body: () => Promise<T>): Promise<T> {
  const probe = await open(import.meta.filename, 'r');
  const proto = Object.getPrototypeOf(probe) as { read: Read };
  await probe.close();
  const real = proto.read;
  proto.read = function (this: unknown, ...args: unknown[]) {
    return spy(args[3], () => real.apply(this, args));
  };
  try {
    return await body();
  } finally {
    proto.read = real;
  }
}

describe('restore uses the bytes it verified', () => {
  let work: string;
  let source: TestServer;
  let backup: string;
  let entries: ArchiveEntry[];
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-restore-reads-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
    backup = join(work, 'b.tar');
    await createBackup({ config: loadConfig({ flags: { dataDir: source.dataDir }, env: {}, cwd: work }), out: backup, includeMasterKey: true });
    const handle = await open(backup, 'r');
    entries = await listEntries(handle);
    await handle.close();
  });
  after(async () => {
    await source.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  it('reads master.key and bootstrap-admin.json from the archive once, and writes those bytes', async () => {
    const small = entries.filter((entry) => entry.name === 'master.key' || entry.name === 'bootstrap-admin.json');
    assert.equal(small.length, 2, 'precondition: the backup holds both');
    const reads = new Map<number, number>();
    const target = join(work, 'once');
    await withReads(
      async (position, read) => {
        if (typeof position === 'number') reads.set(position, (reads.get(position) ?? 0) + 1);
        return read();
      },
      () => restoreBackup({ config: loadConfig({ flags: { dataDir: target }, env: {}, cwd: work }), from: backup }),
    );
    for (const entry of small) assert.equal(reads.get(entry.offset), 1, `${entry.name} was read ${reads.get(entry.offset)} times`);
    assert.equal(await readFile(join(target, 'bootstrap-admin.json'), 'utf8'), await readFile(join(source.dataDir, 'bootstrap-admin.json'), 'utf8'));
  });

  it('refuses, leaving nothing behind, a database changed in the file between the check and the copy', async () => {
    const db = entries.find((entry) => entry.name === 'tessera.db')!;
    const target = join(work, 'swapped');
    let atDb = 0;
    const attempt = withReads(
      async (position, read) => {
        if (position === db.offset && ++atDb === 2) {
          const fd = openSync(backup, 'r+');
          writeSync(fd, Buffer.from('garbage'), 0, 7, db.offset + 100);
          closeSync(fd);
        }
        return read();
      },
      () => restoreBackup({ config: loadConfig({ flags: { dataDir: target }, env: {}, cwd: work }), from: backup }),
    );
    await assert.rejects(attempt, (error: Error & { code?: string }) => {
      assert.equal(error.code, 'BACKUP_INVALID');
      assert.equal(
        error.message,
        `${backup} changed while it was restored: tessera.db no longer matches its manifest (is something writing to the backup?); nothing was restored`,
      );
      return true;
    });
    assert.deepEqual(await readdir(target).catch(() => []), []);
  });
});

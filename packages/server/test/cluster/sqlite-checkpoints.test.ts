// The primary's SQLite checkpoints: a worker's writer with the raised threshold leaves its log
// alone, the primary's checkpoint copies it into the database file, and a checkpoint that cannot
// run says so once.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SAFETY_AUTOCHECKPOINT_PAGES, startSqliteCheckpoints } from '../../src/cluster/sqlite-checkpoints.ts';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';

interface Logged {
  level: 'warn' | 'info';
  message: string;
}

/** Writes ~2,000 pages of log (40 commits of 50 rows of 4 KB) into a new table `filler`. */
async function fillLog(driver: ReturnType<typeof openSqliteDriver>): Promise<void> {
  await driver.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const body = 'x'.repeat(4000);
  for (let commit = 0; commit < 40; commit += 1) {
    await driver.transaction(async (tx) => {
      for (let row = 0; row < 50; row += 1) await tx.run('INSERT INTO filler (body) VALUES (?)', [body]);
    });
  }
}

function collectingLog(): { lines: Logged[]; warn(details: object, message: string): void; info(details: object, message: string): void } {
  const lines: Logged[] = [];
  return { lines, warn: (_details, message) => lines.push({ level: 'warn', message }), info: (_details, message) => lines.push({ level: 'info', message }) };
}

void describe('SQLite checkpoints run by the cluster primary', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-checkpoints-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it("copies a worker writer's log into the database file, which the writer itself no longer does past 1000 pages", async () => {
    const path = join(dir, 'worker.sqlite');
    const driver = openSqliteDriver(path, { autocheckpointPages: SAFETY_AUTOCHECKPOINT_PAGES });
    const log = collectingLog();
    const checkpoints = startSqliteCheckpoints(path, log, 60_000);
    try {
      // ~2,000 pages of log in 40 commits: SQLite's default threshold would have checkpointed twice.
      await fillLog(driver);
      const before = statSync(path).size;
      assert.ok(statSync(`${path}-wal`).size > 1000 * 4096, 'the log holds more than the default threshold');
      assert.ok(before < 1_000_000, `the database file was left alone by the writer (${before} bytes)`);

      assert.equal(checkpoints.checkpoint(), true);
      assert.ok(statSync(path).size > 2000 * 4000, `the checkpoint copied the rows into the database file (${statSync(path).size} bytes)`);
      assert.deepEqual(log.lines, []);
      // The writer goes on committing after the primary's checkpoint.
      await driver.run('INSERT INTO filler (body) VALUES (?)', ['after']);
      assert.equal((await driver.get<{ n: number }>('SELECT COUNT(*) AS n FROM filler'))?.n, 2001);
    } finally {
      checkpoints.close();
      await driver.close();
    }
  });

  void it("keeps SQLite's default threshold for a writer not told otherwise (a single process, the CLI)", async () => {
    const path = join(dir, 'single.sqlite');
    const driver = openSqliteDriver(path);
    try {
      await fillLog(driver);
      assert.ok(statSync(path).size > 1000 * 4000, 'the writer checkpointed on its own');
    } finally {
      await driver.close();
    }
  });

  void it('warns once when it cannot checkpoint, and says so when it can again', () => {
    const path = join(dir, 'not-a-database.sqlite');
    writeFileSync(path, 'this is not an SQLite database, and it is long enough to have a header: '.repeat(20));
    const log = collectingLog();
    const checkpoints = startSqliteCheckpoints(path, log, 60_000);
    try {
      assert.equal(checkpoints.checkpoint(), false);
      assert.equal(checkpoints.checkpoint(), false);
      assert.equal(log.lines.length, 1);
      assert.equal(log.lines[0]!.level, 'warn');
      assert.match(log.lines[0]!.message, /SQLite checkpoints failed: the workers checkpoint the database themselves past 10000 pages/);

      rmSync(path);
      // A database that is gone is not created again by the checkpoints.
      assert.equal(checkpoints.checkpoint(), false);
      assert.throws(() => statSync(path), { code: 'ENOENT' });
      assert.equal(log.lines.length, 1);

      const driver = openSqliteDriver(path);
      void driver.close();
      assert.equal(checkpoints.checkpoint(), true);
      assert.deepEqual(
        log.lines.map((line) => line.level),
        ['warn', 'info'],
      );
    } finally {
      checkpoints.close();
    }
  });
});

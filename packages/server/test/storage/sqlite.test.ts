import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { StorageUnavailableError } from '../../src/storage/errors.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { openStore } from '../../src/storage/open.ts';
import { storeConformance } from './conformance/index.ts';
import { assertUpgradesFromVersion1 } from './conformance/upgrade.ts';

describe('SQLite store', () => {
  let dir = '';
  let opened = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-storage-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  storeConformance({
    async openDriver() {
      const driver = openSqliteDriver(join(dir, `store-${++opened}.sqlite`));
      await migrate(driver);
      return driver;
    },
  });

  it('creates the database and its WAL file readable by the owner only', async () => {
    const path = join(dir, 'private.sqlite');
    const store = await openStore({ kind: 'sqlite', path });
    await store.createDomain({ name: 'alpha' }, { actor: 'test' });
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    } finally {
      await store.close();
    }
  });

  it('keeps its data and schema across a reopen', async () => {
    const path = join(dir, 'reopen.sqlite');
    const first = await openStore({ kind: 'sqlite', path });
    await first.createDomain({ name: 'alpha' }, { actor: 'test' });
    await first.close();
    const second = await openStore({ kind: 'sqlite', path });
    try {
      assert.equal((await second.getDomain('alpha'))?.name, 'alpha');
    } finally {
      await second.close();
    }
  });

  it('upgrades a version-1 database and keeps its data', async () => {
    await assertUpgradesFromVersion1(openSqliteDriver(join(dir, 'version-1.sqlite')));
  });

  it('reports a database it cannot open as StorageUnavailableError', async () => {
    await assert.rejects(openStore({ kind: 'sqlite', path: join(dir, 'missing-dir', 'db.sqlite') }), StorageUnavailableError);
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { StorageUnavailableError } from '../../src/storage/errors.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { openStore } from '../../src/storage/open.ts';
import { storeConformance } from './conformance/index.ts';
import { assertUpgradesAuditDomains, assertUpgradesFromVersion1, assertUpgradesFromVersion2 } from './conformance/upgrade.ts';

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

  it('upgrades a version-2 database and keeps its data', async () => {
    await assertUpgradesFromVersion2(openSqliteDriver(join(dir, 'version-2.sqlite')));
  });

  it('gives the audit events of an older database the domain each is about', async () => {
    await assertUpgradesAuditDomains(openSqliteDriver(join(dir, 'version-14.sqlite')));
  });

  it('lets exactly one of several processes sharing the file use each join token', async () => {
    const path = join(dir, 'instances.sqlite');
    const tokens = 100;
    const store = await openStore({ kind: 'sqlite', path });
    try {
      await store.createDomain({ name: 'alpha' }, { actor: 'test' });
      await store.createService({ domain: 'alpha', name: 'api' }, {}, { actor: 'test' });
      for (let i = 0; i < tokens; i++) {
        await store.createJoinToken({ id: `jt-${i}`, principal: 'alpha.api', hash: `HASH-OF-jt-${i}`, expiresAt: Date.now() + 3_600_000 }, { actor: 'test' });
      }
      const won = await raceConsumers(path, tokens, 3);
      assert.deepEqual(won.flat().sort(), Array.from({ length: tokens }, (_, i) => `jt-${i}`).sort());
      assert.equal((await store.queryAudit({ type: 'join-token.use', limit: 1000 })).length, tokens);
    } finally {
      await store.close();
    }
  });

  it('reports a database it cannot open as StorageUnavailableError', async () => {
    await assert.rejects(openStore({ kind: 'sqlite', path: join(dir, 'missing-dir', 'db.sqlite') }), StorageUnavailableError);
  });
});

const CONSUMER = join(import.meta.dirname, 'join-token-consumer.ts');

/** Starts `processes` consumers on one file, lets them go at once, returns the ids each won. */
async function raceConsumers(path: string, tokens: number, processes: number): Promise<string[][]> {
  const children = Array.from({ length: processes }, () => {
    const child = spawn(process.execPath, [CONSUMER, path, String(tokens)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const ready = new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.startsWith('ready\n')) resolve();
      });
    });
    const done = new Promise<string[]>((resolve, reject) =>
      child.on('close', (code) => {
        if (code !== 0) reject(new Error(`consumer exited with ${code}:\n${err}`));
        else resolve(JSON.parse(out.split('\n')[1] ?? '') as string[]);
      }),
    );
    return { child, ready, done };
  });
  await Promise.all(children.map(({ ready }) => ready));
  for (const { child } of children) child.stdin.end('go\n');
  return Promise.all(children.map(({ done }) => done));
}

// Review 5 (outside attacker): backup authenticity after the MAC fix. The attacker can write where
// backups are kept (an object store mount, a backup host's share) but has no master key. Each test
// FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { listEntries, readEntry } from '../../src/backup/archive.ts';
import { createBackup, loadConfig, restoreBackup } from '../../src/backup/index.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('review5: backup bytes verified vs bytes used', () => {
  let work: string;
  let source: TestServer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-review5-backup-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
  });
  after(async () => {
    await source.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  it('restore writes the database bytes it verified, not bytes swapped into the file after the check (TOCTOU)', async () => {
    const config = loadConfig({ flags: { dataDir: source.dataDir }, env: {}, cwd: work });
    const backup = join(work, 'nightly.tar');
    await createBackup({ config, out: backup });

    // The attacker prepares a database with a key of their own on the system admin, same size.
    const handle = await open(backup, 'r');
    const entries = await listEntries(handle);
    const dbEntry = entries.find((entry) => entry.name === 'tessera.db')!;
    const original = await readEntry(handle, dbEntry);
    await handle.close();
    const scratch = join(work, 'edit.db');
    await writeFile(scratch, original);
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const db = new DatabaseSync(scratch);
    db.exec('PRAGMA journal_mode=DELETE');
    db.prepare('INSERT INTO public_keys (principal, kid, pem, created_at) VALUES (?, ?, ?, ?)').run('sys.auth.admin', 'evil', pem, Date.now());
    db.close();
    const edited = await readFile(scratch);
    assert.equal(edited.length, original.length, 'precondition: the edited database has the same size (pick another edit if not)');

    // The attacker's writer swaps the database bytes after restore has hashed them: simulated by
    // writing them when restore comes back to read the database entry a second time.
    const probe = await open(backup, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const realRead = proto.read;
    let readsAtDb = 0;
    proto.read = async function (this: unknown, ...args: unknown[]) {
      if (args[3] === dbEntry.offset) {
        readsAtDb += 1;
        if (readsAtDb === 2) {
          const fd = openSync(backup, 'r+');
          writeSync(fd, edited, 0, edited.length, dbEntry.offset);
          closeSync(fd);
        }
      }
      return realRead.apply(this, args);
    };
    const target = join(work, 'restored');
    try {
      const restoreConfig = loadConfig({ flags: { dataDir: target, masterKeyFile: join(source.dataDir, 'master.key') }, env: {}, cwd: work });
      try {
        await restoreBackup({ config: restoreConfig, from: backup });
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'BACKUP_INVALID', String(error));
        return;
      }
    } finally {
      proto.read = realRead;
    }
    assert.ok(readsAtDb >= 2, 'restore read the database entry twice (hash, then copy)');
    const restored = new DatabaseSync(join(target, 'tessera.db'), { readOnly: true });
    const planted = restored.prepare("SELECT kid FROM public_keys WHERE principal = 'sys.auth.admin' AND kid = 'evil'").all();
    restored.close();
    assert.equal(
      planted.length,
      0,
      'restore hashed the database entry, then re-read it from the file to copy it without hashing again: ' +
        'bytes swapped in between (a writer on the backup store) are restored, here a key on sys.auth.admin',
    );
  });
});

/** A ustar header as archive.ts writes one, with any type flag. */
function rawHeader(name: string, size: number, type: string): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'utf8');
  block.write('0000600\0', 100, 'ascii');
  block.write('0000000\0', 108, 'ascii');
  block.write('0000000\0', 116, 'ascii');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  block.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'ascii',
  );
  block.write(type, 156, 'ascii');
  block.write('ustar\0' + '00', 257, 'ascii');
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function entryBytes(name: string, data: Buffer, type = '0'): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([rawHeader(name, data.length, type), data, Buffer.alloc(pad)]);
}

describe('review5: tar tricks on a MAC-valid backup (held)', () => {
  let work: string;
  let source: TestServer;
  let parts: { name: string; data: Buffer }[];
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-review5-tar-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
    const config = loadConfig({ flags: { dataDir: source.dataDir }, env: {}, cwd: work });
    const backup = join(work, 'b.tar');
    await createBackup({ config, out: backup });
    const handle = await open(backup, 'r');
    parts = [];
    for (const entry of await listEntries(handle)) parts.push({ name: entry.name, data: await readEntry(handle, entry) });
    await handle.close();
  });
  after(async () => {
    await source.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  const attempt = async (label: string, archive: Buffer): Promise<string> => {
    const file = join(work, `${label}.tar`);
    await writeFile(file, archive);
    const target = join(work, `restored-${label}`);
    const config = loadConfig({ flags: { dataDir: target, masterKeyFile: join(source.dataDir, 'master.key') }, env: {}, cwd: work });
    try {
      await restoreBackup({ config, from: file });
      return 'restored';
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };
  const END = Buffer.alloc(1024);

  it('a second tessera.db entry after the first is refused', async () => {
    const db = parts.find((p) => p.name === 'tessera.db')!;
    const archive = Buffer.concat([...parts.map((p) => entryBytes(p.name, p.data)), entryBytes('tessera.db', Buffer.alloc(db.data.length)), END]);
    assert.equal(await attempt('duplicate', archive), 'BACKUP_INVALID');
  });

  it('a pax extended header (type x) renaming the next entry is refused', async () => {
    const pax = Buffer.from('30 path=tessera.db.evil-name\n');
    const archive = Buffer.concat([
      entryBytes(parts[0]!.name, parts[0]!.data),
      entryBytes(parts[1]!.name, parts[1]!.data),
      entryBytes('PaxHeader', pax, 'x'),
      ...parts.slice(2).map((p) => entryBytes(p.name, p.data)),
      END,
    ]);
    assert.equal(await attempt('pax', archive), 'BACKUP_INVALID');
  });

  it('a GNU long-name entry (type L) is refused', async () => {
    const archive = Buffer.concat([
      entryBytes(parts[0]!.name, parts[0]!.data),
      entryBytes(parts[1]!.name, parts[1]!.data),
      entryBytes('././@LongLink', Buffer.from('tessera.db\0'), 'L'),
      ...parts.slice(2).map((p) => entryBytes(p.name, p.data)),
      END,
    ]);
    assert.equal(await attempt('gnu-long', archive), 'BACKUP_INVALID');
  });

  it('a manifest with a UTF-8 BOM (bytes differ from the MACed ones) is refused', async () => {
    const archive = Buffer.concat([
      entryBytes(parts[0]!.name, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), parts[0]!.data])),
      ...parts.slice(1).map((p) => entryBytes(p.name, p.data)),
      END,
    ]);
    assert.equal(await attempt('bom', archive), 'BACKUP_INVALID');
  });

  it('an uppercase-hex MAC of the right value is refused or accepted consistently (no second spelling that skips the check)', async () => {
    const mac = parts[1]!;
    const archive = Buffer.concat([
      entryBytes(parts[0]!.name, parts[0]!.data),
      entryBytes(mac.name, Buffer.from(mac.data.toString('utf8').toUpperCase())),
      ...parts.slice(2).map((p) => entryBytes(p.name, p.data)),
      END,
    ]);
    assert.equal(await attempt('upper-mac', archive), 'BACKUP_INVALID');
  });

  it('an entry after the end marker is never used (the restored database is the MACed one)', async () => {
    const archive = Buffer.concat([...parts.map((p) => entryBytes(p.name, p.data)), END, entryBytes('tessera.db', Buffer.alloc(1024, 1)), END]);
    assert.equal(await attempt('after-end', archive), 'restored');
    const restored = await readFile(join(work, 'restored-after-end', 'tessera.db'));
    assert.ok(restored.equals(parts.find((p) => p.name === 'tessera.db')!.data));
  });
});

// `tessera backup`: a consistent copy of an embedded-SQLite data dir while the server runs.
//
// The copy is SQLite's VACUUM INTO from a read-only connection: one read transaction, so the
// copy is the database as of one instant (every write committed before it, none after), and
// under WAL a reader holds no lock a writer waits for, so the server's writers carry on. The
// online backup API (node:sqlite's backup()) was the other candidate; it restarts whenever
// another process writes between its steps, which under steady load can be forever, unless it
// copies in one step, which is what VACUUM INTO does anyway, and compacts the copy besides.
//
// The archive is written beside its destination and renamed into place, so a reader never sees
// half a backup, and it is owner-only from its first byte.
//
// A backup needs the master key even when it does not carry it: its manifest is authenticated
// with an HMAC under a key derived from the master key (manifest.ts), so that whoever can edit
// stored backups but lacks the key cannot make restore accept an edited database.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Config } from '../config/config.ts';
import { BOOTSTRAP_FILE } from '../admin/bootstrap.ts';
import { ArchiveWriter } from './archive.ts';
import { BackupError, describeFsError } from './errors.ts';
import { fingerprintOf, inspectDatabase, readConfiguredKey } from './inspect.ts';
import { BOOTSTRAP_ENTRY, DATABASE_ENTRY, MAC_ENTRY, MANIFEST_NAME, MASTER_KEY_ENTRY, buildManifest, manifestMac } from './manifest.ts';
import type { Manifest, ManifestFile } from './manifest.ts';

/** How long the copy waits for SQLite's rare reader locks (WAL recovery after a crash). */
const BUSY_TIMEOUT_MS = 5000;

export interface BackupOptions {
  config: Pick<Config, 'dataDir' | 'database' | 'masterKey'>;
  /** Absolute path of the archive to write. */
  out: string;
  force?: boolean;
  includeMasterKey?: boolean;
  now?: () => number;
}

export interface BackupResult {
  file: string;
  bytes: number;
  /** The whole command, and the part of it that held a read transaction on the live database. */
  durationMs: number;
  snapshotMs: number;
  manifest: Manifest;
}

export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? Date.now;
  const started = performance.now();
  const { config, out } = options;
  if (config.database.kind === 'postgres') {
    throw new BackupError(
      'BACKUP_POSTGRES',
      'the database is PostgreSQL, which tessera backup does not copy: back it up with pg_dump or continuous WAL archiving ' +
        '(docs/backup.md, "PostgreSQL"), and keep the master key separately',
    );
  }
  const databasePath = config.database.path;
  await checkDataDir(config.dataDir, databasePath);
  if (!options.force && (await exists(out))) {
    throw new BackupError('BACKUP_OUT_EXISTS', `${out} already exists: choose another --out, or add --force to replace it`);
  }
  const key = await readConfiguredKey(config.masterKey);
  if (key === null) {
    throw new BackupError(
      'BACKUP_MASTER_KEY_MISSING',
      `there is no master key file at ${describeKeyPlace(config.masterKey)}, and a backup needs the key to authenticate its manifest: ` +
        'give the key tessera serve uses (--master-key-file FILE or TESSERA_MASTER_KEY); it goes into the backup only with --include-master-key',
    );
  }

  let scratch: string;
  try {
    scratch = await mkdtemp(join(dirname(out), '.tessera-backup-'));
  } catch (error) {
    throw new BackupError('BACKUP_UNREADABLE', `cannot write beside ${out}: ${describeFsError(error)}`, { cause: error });
  }
  try {
    const snapshot = join(scratch, DATABASE_ENTRY);
    const snapshotStarted = performance.now();
    copyDatabase(databasePath, snapshot);
    const snapshotMs = performance.now() - snapshotStarted;

    const facts = inspectDatabase(snapshot);
    if (facts.masterKeyFingerprint === null) {
      throw new BackupError('BACKUP_NO_DATABASE', `${databasePath} has not been through a first start of tessera serve yet: there is nothing to back up`);
    }
    if (fingerprintOf(key.key) !== facts.masterKeyFingerprint) {
      throw new BackupError(
        'BACKUP_MASTER_KEY_MISMATCH',
        `the master key from ${key.source} is not the one this database was created with: give the right one (--master-key-file or TESSERA_MASTER_KEY)`,
      );
    }

    const extras: { name: string; data: Buffer }[] = [];
    if (options.includeMasterKey) {
      extras.push({ name: MASTER_KEY_ENTRY, data: Buffer.from(`${key.key.toString('base64')}\n`) });
      // The bootstrap admin's secret is no safer than the key, so it travels only with it.
      const bootstrap = await readOptional(join(config.dataDir, BOOTSTRAP_FILE));
      if (bootstrap !== null) extras.push({ name: BOOTSTRAP_ENTRY, data: bootstrap });
    }
    const { size } = await stat(snapshot);
    const files: ManifestFile[] = [
      { name: DATABASE_ENTRY, bytes: size, sha256: await hashFile(snapshot) },
      ...extras.map(({ name, data }) => ({ name, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') })),
    ];
    const createdAt = new Date(now());
    const manifest = buildManifest({
      createdAt: createdAt.toISOString(),
      schemaVersion: facts.schemaVersion,
      masterKeyFingerprint: facts.masterKeyFingerprint,
      masterKeyIncluded: options.includeMasterKey === true,
      counts: facts.counts,
      files,
    });

    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const bytes = await writeArchive(out, options.force ?? false, async (archive) => {
      await archive.addBytes(MANIFEST_NAME, manifestBytes, createdAt);
      await archive.addBytes(MAC_ENTRY, Buffer.from(`${manifestMac(key.key, manifestBytes)}\n`), createdAt);
      await archive.addFile(DATABASE_ENTRY, snapshot, size, createdAt);
      for (const { name, data } of extras) await archive.addBytes(name, data, createdAt);
    });
    return { file: out, bytes, durationMs: performance.now() - started, snapshotMs, manifest };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function checkDataDir(dataDir: string, databasePath: string): Promise<void> {
  try {
    if (!(await stat(dataDir)).isDirectory())
      throw new BackupError('BACKUP_NO_DATA_DIR', `${dataDir} is not a directory: give the data dir of tessera serve (--data-dir)`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(
      'BACKUP_NO_DATA_DIR',
      `cannot read the data dir ${dataDir}: ${describeFsError(error)}; give the data dir of tessera serve (--data-dir)`,
      { cause: error },
    );
  }
  if (!(await exists(databasePath))) {
    throw new BackupError('BACKUP_NO_DATABASE', `${dataDir} holds no database (${basename(databasePath)}): is it the data dir tessera serve uses?`);
  }
}

function copyDatabase(source: string, destination: string): void {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(source, { readOnly: true });
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.prepare('VACUUM INTO ?').run(destination);
  } catch (error) {
    throw new BackupError('BACKUP_UNREADABLE', `cannot copy the database ${source}: ${(error as Error).message}`, { cause: error });
  } finally {
    db?.close();
  }
}

/** Writes the archive to a temporary file beside `out`, then moves it into place. */
async function writeArchive(out: string, force: boolean, fill: (archive: ArchiveWriter) => Promise<void>): Promise<number> {
  const temporary = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    let bytes: number;
    try {
      const archive = new ArchiveWriter(handle);
      await fill(archive);
      bytes = await archive.finish();
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (force) {
      await rename(temporary, out);
    } else {
      // link() never replaces: a file that appeared at `out` since the check above is kept.
      try {
        await link(temporary, out);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new BackupError('BACKUP_OUT_EXISTS', `${out} already exists: choose another --out, or add --force to replace it`);
        }
        throw error;
      }
    }
    return bytes;
  } finally {
    await rm(temporary, { force: true });
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function describeKeyPlace(masterKey: Config['masterKey']): string {
  return masterKey.source === 'env' ? 'TESSERA_MASTER_KEY' : masterKey.path;
}

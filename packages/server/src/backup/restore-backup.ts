// `tessera restore`: a data dir from a backup, ready for `tessera serve`.
//
// Everything that can refuse does so before the first byte is written: the archive is read
// through once (verify-backup.ts: the manifest's MAC under the master key, then every file's
// SHA-256 against the manifest), the target is checked to be new or empty, and the master key is
// checked against the backup's fingerprint. Only then is the data dir written, under the data
// dir's lock (the one `tessera serve` takes, so no serve starts on it meanwhile), the database
// last and through a rename, so a restore that fails half-way never leaves a database that
// `serve` would start on.

import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { BOOTSTRAP_FILE } from '../admin/bootstrap.ts';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../lib/data-dir-lock.ts';
import type { DataDirLock } from '../lib/data-dir-lock.ts';
import { streamEntry } from './archive.ts';
import type { ArchiveEntry } from './archive.ts';
import { BackupError, describeFsError } from './errors.ts';
import { NEWEST_SCHEMA, inspectDatabase } from './inspect.ts';
import { BOOTSTRAP_ENTRY, DATABASE_ENTRY, MASTER_KEY_ENTRY } from './manifest.ts';
import type { Manifest } from './manifest.ts';
import { verifyBackup } from './verify-backup.ts';

const DATABASE_FILES = new Set(['tessera.db', 'tessera.db-wal', 'tessera.db-shm', 'tessera.db-journal']);
/** What a target may already hold: the operator's master key, and a lock (a stale one is taken over). */
const ALLOWED_IN_TARGET = new Set(['master.key', LOCK_FILE]);

export interface RestoreOptions {
  config: Pick<Config, 'dataDir' | 'database' | 'masterKey'>;
  /** Absolute path of the backup. */
  from: string;
}

export interface RestoreResult {
  dataDir: string;
  manifest: Manifest;
  /** Where the key that matched came from: the backup, TESSERA_MASTER_KEY or a file's path. */
  masterKeySource: string;
  /** True when the backup's key was written to `<dataDir>/master.key`. */
  masterKeyWritten: boolean;
  durationMs: number;
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { config, from } = options;
  if (config.database.kind === 'postgres') {
    throw new BackupError(
      'BACKUP_POSTGRES',
      'the database is configured as PostgreSQL, and tessera restore writes an embedded SQLite data dir: ' +
        'restore PostgreSQL with pg_restore or from its WAL archive (docs/backup.md, "PostgreSQL")',
    );
  }
  let handle: FileHandle;
  try {
    handle = await open(from, 'r');
  } catch (error) {
    throw new BackupError('BACKUP_UNREADABLE', `cannot read the backup ${from}: ${describeFsError(error)}`, { cause: error });
  }
  try {
    // The target first: the key serve would read may live in it (`<dataDir>/master.key`).
    const createdDir = await checkTarget(config.dataDir);
    const { manifest, entries, included, configured, small } = await verifyBackup(handle, from, config.masterKey);
    if (manifest.schemaVersion > NEWEST_SCHEMA) {
      throw new BackupError(
        'BACKUP_SCHEMA_TOO_NEW',
        `${from} holds a database at schema version ${manifest.schemaVersion}, newer than this Tessera's (${NEWEST_SCHEMA}): restore it with the Tessera release that made it, or a newer one`,
      );
    }
    // With no key configured, the backup's own goes where serve looks by default.
    const writeKey = configured === null;
    const lock = await lockTarget(config.dataDir, createdDir);
    const written: string[] = [];
    try {
      // Again under the lock: a serve may have started, and made a database, since the first look.
      await checkTarget(config.dataDir);
      const staged = join(config.dataDir, `.${DATABASE_ENTRY}.${randomBytes(6).toString('hex')}.restoring`);
      written.push(staged);
      await extract(handle, entries.get(DATABASE_ENTRY)!, staged, manifest, from);
      const facts = inspectDatabase(staged);
      if (facts.masterKeyFingerprint !== manifest.masterKeyFingerprint) {
        throw new BackupError('BACKUP_INVALID', `${from} is not a consistent backup: its database was made with another master key than its manifest names`);
      }
      if (facts.schemaVersion !== manifest.schemaVersion) {
        throw new BackupError(
          'BACKUP_INVALID',
          `${from} is not a consistent backup: its database is at schema version ${facts.schemaVersion}, and its manifest says ${manifest.schemaVersion}`,
        );
      }
      if (writeKey) await writePrivate(join(config.dataDir, MASTER_KEY_ENTRY), Buffer.from(`${included!.toString('base64')}\n`), written);
      const bootstrap = small.get(BOOTSTRAP_ENTRY);
      if (bootstrap) await writePrivate(join(config.dataDir, BOOTSTRAP_FILE), bootstrap, written);
      await rename(staged, config.database.path);
    } catch (error) {
      for (const path of written) await rm(path, { force: true });
      await lock.release();
      if (createdDir) await rmdir(config.dataDir).catch(() => undefined);
      throw error;
    }
    await lock.release();
    return {
      dataDir: config.dataDir,
      manifest,
      masterKeySource: configured?.source ?? 'the backup',
      masterKeyWritten: writeKey,
      durationMs: performance.now() - started,
    };
  } finally {
    await handle.close();
  }
}

/** Takes the lock `tessera serve` takes (creating the dir if need be), or refuses while a live process holds it. */
async function lockTarget(dataDir: string, createdDir: boolean): Promise<DataDirLock> {
  try {
    return await lockDataDir(dataDir, '', process.pid, 'tessera restore');
  } catch (error) {
    if (createdDir) await rmdir(dataDir).catch(() => undefined);
    if (error instanceof DataDirInUseError) {
      const holder = error.holder === null ? 'another process' : `${error.holder.command ?? 'tessera serve'} (pid ${error.holder.pid})`;
      throw new BackupError('BACKUP_TARGET_IN_USE', `${dataDir} is locked by ${holder}: stop it first, or restore into another data dir`, { cause: error });
    }
    throw new BackupError('BACKUP_TARGET_NOT_EMPTY', `cannot lock the data dir ${dataDir}: ${describeFsError(error)}`, { cause: error });
  }
}

/** @returns whether the data dir is to be created. */
async function checkTarget(dataDir: string): Promise<boolean> {
  let names: string[];
  try {
    if (!(await stat(dataDir)).isDirectory()) throw new BackupError('BACKUP_TARGET_NOT_EMPTY', `${dataDir} is not a directory: give a new or empty data dir`);
    names = await readdir(dataDir);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new BackupError('BACKUP_TARGET_NOT_EMPTY', `cannot read the data dir ${dataDir}: ${describeFsError(error)}`, { cause: error });
  }
  const database = names.filter((name) => DATABASE_FILES.has(name));
  if (database.length > 0) {
    throw new BackupError(
      'BACKUP_TARGET_NOT_EMPTY',
      `${dataDir} already holds a database (${database.join(', ')}): restore into a new or empty data dir; a restore never replaces a database`,
    );
  }
  const others = names.filter((name) => !ALLOWED_IN_TARGET.has(name));
  if (others.length > 0) {
    throw new BackupError(
      'BACKUP_TARGET_NOT_EMPTY',
      `${dataDir} is not empty (${others.slice(0, 5).join(', ')}): restore into a new or empty data dir (it may hold only master.key)`,
    );
  }
  return false;
}

/**
 * Copies the database entry to `path`, hashing the bytes it copies: verify-backup.ts hashed an
 * earlier read, and a writer on the backup store may have changed the file since. The staged copy
 * is used only if what was copied is what the MACed manifest names.
 */
async function extract(handle: FileHandle, entry: ArchiveEntry, path: string, manifest: Manifest, from: string): Promise<void> {
  const expected = manifest.files.find((file) => file.name === entry.name)!;
  const hash = createHash('sha256');
  const out = await open(path, 'wx', 0o600);
  try {
    let position = 0;
    await streamEntry(handle, entry, async (chunk) => {
      hash.update(chunk);
      for (let done = 0; done < chunk.length;) {
        const { bytesWritten } = await out.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
      position += chunk.length;
    });
    if (position !== expected.bytes || hash.digest('hex') !== expected.sha256) {
      throw new BackupError(
        'BACKUP_INVALID',
        `${from} changed while it was restored: ${entry.name} no longer matches its manifest (is something writing to the backup?); nothing was restored`,
      );
    }
    await out.sync();
  } finally {
    await out.close();
  }
}

async function writePrivate(path: string, data: Buffer, written: string[]): Promise<void> {
  await writeFile(path, data, { mode: 0o600, flag: 'wx' });
  written.push(path);
}

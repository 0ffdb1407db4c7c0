// `tessera restore`: a data dir from a backup, ready for `tessera serve`.
//
// Everything that can refuse does so before the first byte is written: the archive is read
// through once (every header, every file's SHA-256 against the manifest), the target is checked
// to be new or empty, and the master key is checked against the backup's fingerprint. Only then
// is the data dir written, the database last and through a rename, so a restore that fails
// half-way never leaves a database that `serve` would start on.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { BOOTSTRAP_FILE } from '../admin/bootstrap.ts';
import { ArchiveFormatError, listEntries, readEntry, streamEntry } from './archive.ts';
import type { ArchiveEntry } from './archive.ts';
import { BackupError, describeFsError } from './errors.ts';
import { NEWEST_SCHEMA, fingerprintOf, inspectDatabase, readConfiguredKey } from './inspect.ts';
import { BOOTSTRAP_ENTRY, DATABASE_ENTRY, MANIFEST_NAME, MASTER_KEY_ENTRY, parseManifest } from './manifest.ts';
import type { Manifest } from './manifest.ts';
import { parseMasterKey } from '../keys/master-key.ts';

const DATABASE_FILES = new Set(['tessera.db', 'tessera.db-wal', 'tessera.db-shm', 'tessera.db-journal']);
/** What a target may already hold: the operator's master key, put where serve looks for it. */
const ALLOWED_IN_TARGET = new Set(['master.key']);

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
    const { manifest, entries } = await readArchive(handle, from);
    if (manifest.schemaVersion > NEWEST_SCHEMA) {
      throw new BackupError(
        'BACKUP_SCHEMA_TOO_NEW',
        `${from} holds a database at schema version ${manifest.schemaVersion}, newer than this Tessera's (${NEWEST_SCHEMA}): restore it with the Tessera release that made it, or a newer one`,
      );
    }
    const createdDir = await checkTarget(config.dataDir);
    const included = manifest.masterKeyIncluded ? parseMasterKey((await readEntry(handle, entries.get(MASTER_KEY_ENTRY)!)).toString('utf8'), MASTER_KEY_ENTRY) : null;
    const key = await chooseKey(config.masterKey, manifest, included);

    const written: string[] = [];
    try {
      if (createdDir) await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      const staged = join(config.dataDir, `.${DATABASE_ENTRY}.${randomBytes(6).toString('hex')}.restoring`);
      written.push(staged);
      await extract(handle, entries.get(DATABASE_ENTRY)!, staged);
      const facts = inspectDatabase(staged);
      if (facts.masterKeyFingerprint !== manifest.masterKeyFingerprint) {
        throw new BackupError('BACKUP_INVALID', `${from} is not a consistent backup: its database was made with another master key than its manifest names`);
      }
      if (key.write) await writePrivate(join(config.dataDir, MASTER_KEY_ENTRY), Buffer.from(`${included!.toString('base64')}\n`), written);
      const bootstrap = entries.get(BOOTSTRAP_ENTRY);
      if (bootstrap) await writePrivate(join(config.dataDir, BOOTSTRAP_FILE), await readEntry(handle, bootstrap), written);
      await rename(staged, config.database.path);
    } catch (error) {
      for (const path of written) await rm(path, { force: true });
      if (createdDir) await rmdir(config.dataDir).catch(() => undefined);
      throw error;
    }
    return { dataDir: config.dataDir, manifest, masterKeySource: key.source, masterKeyWritten: key.write, durationMs: performance.now() - started };
  } finally {
    await handle.close();
  }
}

/** Reads and checks the whole archive: the manifest first, then every file against it. */
async function readArchive(handle: FileHandle, from: string): Promise<{ manifest: Manifest; entries: Map<string, ArchiveEntry> }> {
  const invalid = (reason: string, cause?: unknown): BackupError =>
    new BackupError('BACKUP_INVALID', `${from} is not a usable Tessera backup: ${reason}`, cause === undefined ? undefined : { cause });
  let list: ArchiveEntry[];
  try {
    list = await listEntries(handle);
  } catch (error) {
    if (error instanceof ArchiveFormatError) throw invalid(error.message, error);
    throw new BackupError('BACKUP_UNREADABLE', `cannot read the backup ${from}: ${describeFsError(error)}`, { cause: error });
  }
  const first = list[0];
  if (first?.name !== MANIFEST_NAME) throw invalid(`it does not begin with ${MANIFEST_NAME}`);
  if (first.size > 1 << 20) throw invalid(`its ${MANIFEST_NAME} is implausibly large`);
  const parsed = parseManifest((await readEntry(handle, first)).toString('utf8'));
  if ('problem' in parsed) throw invalid(parsed.problem);
  const entries = new Map(list.slice(1).map((entry) => [entry.name, entry]));
  if (entries.size !== list.length - 1 || entries.size !== parsed.files.length) throw invalid('its files do not match its manifest');
  for (const file of parsed.files) {
    const entry = entries.get(file.name);
    if (entry === undefined || entry.size !== file.bytes) throw invalid(`${file.name} is missing or of the wrong size`);
    const hash = createHash('sha256');
    await streamEntry(handle, entry, (chunk) => void hash.update(chunk));
    if (hash.digest('hex') !== file.sha256) throw invalid(`${file.name} is damaged (its SHA-256 differs from the manifest's)`);
  }
  return { manifest: parsed, entries };
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
    throw new BackupError('BACKUP_TARGET_NOT_EMPTY', `${dataDir} is not empty (${others.slice(0, 5).join(', ')}): restore into a new or empty data dir (it may hold only master.key)`);
  }
  return false;
}

interface ChosenKey {
  source: string;
  /** The backup's key goes to `<dataDir>/master.key`, where serve looks by default. */
  write: boolean;
}

/**
 * The key the restored server will start with must be the one the database was made with:
 * the configured key when there is one (it must match), else the key in the backup.
 */
async function chooseKey(masterKey: Config['masterKey'], manifest: Manifest, included: Buffer | null): Promise<ChosenKey> {
  if (included !== null && fingerprintOf(included) !== manifest.masterKeyFingerprint) {
    throw new BackupError('BACKUP_INVALID', 'the backup is not consistent: the master key it holds is not the one its database was made with');
  }
  const configured = await readConfiguredKey(masterKey);
  if (configured === null) {
    if (included === null) {
      throw new BackupError(
        'BACKUP_MASTER_KEY_MISSING',
        `the backup does not hold the master key: give the key it was taken with (--master-key-file FILE or TESSERA_MASTER_KEY; fingerprint ${manifest.masterKeyFingerprint})`,
      );
    }
    return { source: 'the backup', write: true };
  }
  if (fingerprintOf(configured.key) !== manifest.masterKeyFingerprint) {
    throw new BackupError(
      'BACKUP_MASTER_KEY_MISMATCH',
      `the master key from ${configured.source} is not the one this backup was taken with (fingerprint ${manifest.masterKeyFingerprint}): ` +
        'give the original key; with another key the signing and CA keys in the backup cannot be opened',
    );
  }
  return { source: configured.source, write: false };
}

async function extract(handle: FileHandle, entry: ArchiveEntry, path: string): Promise<void> {
  const out = await open(path, 'wx', 0o600);
  try {
    let position = 0;
    await streamEntry(handle, entry, async (chunk) => {
      for (let done = 0; done < chunk.length; ) {
        const { bytesWritten } = await out.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
      position += chunk.length;
    });
    await out.sync();
  } finally {
    await out.close();
  }
}

async function writePrivate(path: string, data: Buffer, written: string[]): Promise<void> {
  await writeFile(path, data, { mode: 0o600, flag: 'wx' });
  written.push(path);
}

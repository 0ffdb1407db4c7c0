// What backup and restore read from a database copy and from the configured master key.

import { readFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import type { Config } from '../config/config.ts';
import { createSealer, parseMasterKey } from '../keys/master-key.ts';
import { migrations } from '../storage/migrations.ts';
import { BackupError, describeFsError } from './errors.ts';

export interface DatabaseFacts {
  schemaVersion: number;
  /** Null only for a database whose server never finished its first start. */
  masterKeyFingerprint: string | null;
  counts: Record<string, number>;
}

/** The newest schema this Tessera knows; a backup of a newer one cannot be served by it. */
export const NEWEST_SCHEMA = Math.max(...migrations.map((step) => step.version));

/** Reads a database copy nobody else has open: its schema version, key fingerprint and row counts. */
export function inspectDatabase(path: string): DatabaseFacts {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const check = db.prepare('PRAGMA quick_check').get() as { quick_check?: string } | undefined;
    if (check?.quick_check !== 'ok') throw new Error(`the database fails SQLite's integrity check: ${String(check?.quick_check)}`);
    const version = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    const meta = db.prepare("SELECT value FROM meta WHERE key = 'master_key_fingerprint'").get() as { value: string } | undefined;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as {
      name: string;
    }[];
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      const row = db.prepare(`SELECT COUNT(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number };
      counts[name] = Number(row.n);
    }
    return { schemaVersion: Number(version.v ?? 0), masterKeyFingerprint: meta?.value ?? null, counts };
  } finally {
    db.close();
  }
}

export interface ConfiguredKey {
  key: Buffer;
  /** Where it came from, for messages: `TESSERA_MASTER_KEY` or the file's path. */
  source: string;
}

/**
 * The master key as `serve` would read it, or null when it is the data dir's default file and
 * that file does not exist (serve would generate one; backup and restore never do).
 */
export async function readConfiguredKey(masterKey: Config['masterKey']): Promise<ConfiguredKey | null> {
  if (masterKey.source === 'env') return { key: parseKey(masterKey.value, 'TESSERA_MASTER_KEY'), source: 'TESSERA_MASTER_KEY' };
  let text: string;
  try {
    text = await readFile(masterKey.path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && masterKey.generate) return null;
    throw new BackupError('BACKUP_MASTER_KEY_MISSING', `cannot read the master key file ${masterKey.path}: ${describeFsError(error)}`, { cause: error });
  }
  return { key: parseKey(text, masterKey.path), source: masterKey.path };
}

function parseKey(text: string, source: string): Buffer {
  try {
    return parseMasterKey(text, source);
  } catch (error) {
    throw new BackupError('BACKUP_MASTER_KEY_MISSING', (error as Error).message, { cause: error });
  }
}

export function fingerprintOf(key: Buffer): string {
  return createSealer(key).fingerprint;
}

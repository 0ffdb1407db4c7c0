// tessera backup (docs/backup.md): a consistent copy of an embedded-SQLite data dir while the
// server runs. The data dir, database and master key are found as `serve` finds them (flags,
// TESSERA_* variables, the config file), so the same settings back up what serve runs on.

import path from 'node:path';
import type { Command } from 'commander';
import type * as BackupModule from '@tessera/server/backup';

import { CliError, EXIT, UsageError, describeError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatHuman, formatJson } from '../output.ts';

interface BackupFlags {
  dataDir?: string;
  config?: string;
  masterKeyFile?: string;
  out: string;
  force?: boolean;
  includeMasterKey?: boolean;
  json?: boolean;
}

export function registerBackupCommand(program: Command, io: CliIo): void {
  program
    .command('backup')
    .description('copy an embedded-SQLite data dir into one file while the server runs (never the master key unless asked)')
    .requiredOption('--out <file>', 'the backup file to write (a tar archive, owner-only)')
    .option('--data-dir <dir>', 'the data dir tessera serve uses (default: ./.tessera)')
    .option('--config <file>', 'the config file tessera serve uses, to find the data dir and database')
    .option(
      '--master-key-file <file>',
      'the master key, when it is not <data-dir>/master.key (also TESSERA_MASTER_KEY): always needed, to authenticate the backup',
    )
    .option('--include-master-key', 'put the master key (and the bootstrap admin credential) in the backup: the file becomes as secret as the key')
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print what was backed up as JSON')
    .addHelpText(
      'after',
      `
With PostgreSQL configured this command copies nothing: use pg_dump or WAL archiving (docs/backup.md).
Exit codes: 0 written, 1 failed, 2 refused (the reason on stderr).`,
    )
    .action(async (flags: BackupFlags) => {
      await backup(flags, io);
    });
}

async function backup(flags: BackupFlags, io: CliIo): Promise<void> {
  const api = await import('@tessera/server/backup');
  const config = loadSettings(api, { dataDir: flags.dataDir, config: flags.config, masterKeyFile: flags.masterKeyFile }, io);
  const out = path.resolve(io.cwd, flags.out);
  lowerPriority(io);
  let result: Awaited<ReturnType<typeof api.createBackup>>;
  try {
    result = await api.createBackup({ config, out, force: flags.force, includeMasterKey: flags.includeMasterKey, now: io.now });
  } catch (error) {
    throw asCliError(api, error, 'backup failed');
  }
  const { manifest } = result;
  const summary = {
    file: result.file,
    bytes: result.bytes,
    durationMs: Math.round(result.durationMs),
    snapshotMs: Math.round(result.snapshotMs),
    createdAt: manifest.createdAt,
    schemaVersion: manifest.schemaVersion,
    masterKeyIncluded: manifest.masterKeyIncluded,
    masterKeyFingerprint: manifest.masterKeyFingerprint,
    files: manifest.files.map(({ name, bytes }) => ({ name, bytes })),
    counts: manifest.counts,
  };
  if (manifest.masterKeyIncluded) {
    io.stderr.write(
      `warning: ${result.file} holds the master key: it is as secret as the key itself (whoever has it can open every private key); keep it apart from ordinary backups\n`,
    );
  }
  io.stdout.write(flags.json ? formatJson(summary) : formatHuman(summary));
}

/**
 * The copy competes with the server it copies for CPU; at the lowest priority (nice 19) it takes
 * what the server leaves. Where the priority cannot be changed the copy runs at the normal one.
 */
function lowerPriority(io: CliIo): void {
  try {
    io.setPriority?.(19);
  } catch {
    // Not permitted here (some containers): no harm beyond a copy that competes a little more.
  }
}

type BackupApi = typeof BackupModule;

/** The server's own configuration loader, so backup and restore read settings exactly as serve does. */
export function loadSettings(api: BackupApi, flags: Record<string, string | undefined>, io: CliIo): ReturnType<BackupApi['loadConfig']> {
  try {
    return api.loadConfig({ flags, env: io.env, cwd: io.cwd });
  } catch (error) {
    if (error instanceof api.ConfigError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** A refusal is a usage error (exit 2, nothing written); anything else a failure (exit 1). */
export function asCliError(api: BackupApi, error: unknown, what: string): CliError {
  if (error instanceof api.BackupError) return new UsageError(error.message, { cause: error });
  return new CliError(`${what}: ${describeError(error)}`, EXIT.failure, { cause: error });
}

// tessera restore (docs/backup.md): a data dir from a `tessera backup` file, ready for serve.
// The data dir and master key are found as `serve` finds them, so the key serve will start with
// is the key checked against the backup.

import path from 'node:path';
import type { Command } from 'commander';

import type { CliIo } from '../io.ts';
import { formatHuman, formatJson } from '../output.ts';
import { asCliError, loadSettings } from './backup.ts';

interface RestoreFlags {
  from: string;
  dataDir?: string;
  config?: string;
  masterKeyFile?: string;
  json?: boolean;
}

export function registerRestoreCommand(program: Command, io: CliIo): void {
  program
    .command('restore')
    .description('make a data dir from a tessera backup file, ready for tessera serve')
    .requiredOption('--from <file>', 'the backup file')
    .option('--data-dir <dir>', 'the data dir to create; it must be new or empty (default: ./.tessera)')
    .option('--config <file>', 'the config file tessera serve will use')
    .option('--master-key-file <file>', 'the master key the backup was taken with (also TESSERA_MASTER_KEY); needed unless the backup holds it')
    .option('--json', 'print what was restored as JSON')
    .addHelpText(
      'after',
      `
Nothing is written unless the whole backup checks out and the master key matches it.
Exit codes: 0 restored, 1 failed, 2 refused (the reason on stderr).`,
    )
    .action(async (flags: RestoreFlags) => {
      await restore(flags, io);
    });
}

async function restore(flags: RestoreFlags, io: CliIo): Promise<void> {
  const api = await import('@tessera/server/backup');
  const config = loadSettings(api, { dataDir: flags.dataDir, config: flags.config, masterKeyFile: flags.masterKeyFile }, io);
  const from = path.resolve(io.cwd, flags.from);
  let result: Awaited<ReturnType<typeof api.restoreBackup>>;
  try {
    result = await api.restoreBackup({ config, from });
  } catch (error) {
    throw asCliError(api, error, 'restore failed');
  }
  const { manifest } = result;
  // Checked with the key the file itself carries, the MAC shows the file is whole, not whose it is:
  // anyone can make such a backup with a Tessera and a key of their own (and an admin key of theirs in it).
  if (result.masterKeySource === 'the backup') {
    io.stderr.write(
      `warning: the backup's MAC was checked with the master key the backup itself carries (fingerprint ${manifest.masterKeyFingerprint}): ` +
        'nothing proves the backup is yours. Compare that fingerprint with your own key’s (tessera backup prints it) before serving this data dir\n',
    );
  }
  const keyFlag = config.masterKey.source === 'file' && !config.masterKey.generate ? ` --master-key-file ${config.masterKey.path}` : '';
  const summary = {
    dataDir: result.dataDir,
    from,
    backupCreatedAt: manifest.createdAt,
    schemaVersion: manifest.schemaVersion,
    masterKey: result.masterKeyWritten ? `from the backup, written to ${path.join(result.dataDir, 'master.key')}` : `from ${result.masterKeySource}`,
    masterKeyFingerprint: manifest.masterKeyFingerprint,
    durationMs: Math.round(result.durationMs),
    counts: manifest.counts,
    next: `tessera serve --data-dir ${result.dataDir}${keyFlag}`,
  };
  io.stdout.write(flags.json ? formatJson(summary) : formatHuman(summary));
}

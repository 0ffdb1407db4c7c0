// tessera recover-admin (docs/operations.md#the-admin-credential): a new credential for the
// bootstrap admin `sys.auth.admin` when every admin credential is lost. It needs what the server
// runs on (the database and the master key), found as `serve` finds them, and nothing else: that
// access is already everything Tessera guards.

import path from 'node:path';
import type { Command } from 'commander';

import { CliError, EXIT, UsageError, describeError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatHuman, formatJson } from '../output.ts';

interface RecoverFlags {
  dataDir?: string;
  config?: string;
  database?: string;
  masterKeyFile?: string;
  issuer?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
}

export function registerRecoverAdminCommand(program: Command, io: CliIo): void {
  program
    .command('recover-admin')
    .description('give the bootstrap admin sys.auth.admin a new secret, from the database and master key (when every admin credential is lost)')
    .option('--data-dir <dir>', 'the data dir tessera serve uses (default: ./.tessera)')
    .option('--config <file>', 'the config file tessera serve uses, to find the data dir, database and master key')
    .option('--database <url>', 'postgres://… when the server runs on PostgreSQL')
    .option('--master-key-file <file>', 'the master key, when it is not <data-dir>/master.key (or set TESSERA_MASTER_KEY)')
    .option('--issuer <url>', 'the issuer, for the token endpoint written in the credential file (default: as serve would)')
    .option('--out <file>', 'where to write the credential (default: <data-dir>/bootstrap-admin.json)')
    .option('--force', 'replace the credential file if it exists')
    .option('--json', 'print what was done as JSON')
    .addHelpText(
      'after',
      `
Runs beside a running server: the change reaches it (and every instance on the same database)
within a second. Older secrets of sys.auth.admin stop working. The changes are audited with the
actor recover-admin. A master key that does not match the database is refused before anything changes.`,
    )
    .action(async (flags: RecoverFlags) => {
      await recover(flags, io);
    });
}

async function recover(flags: RecoverFlags, io: CliIo): Promise<void> {
  const server = await import('@tessera/server');
  let config: ReturnType<typeof server.loadConfig>;
  try {
    config = server.loadConfig({
      flags: { dataDir: flags.dataDir, config: flags.config, database: flags.database, masterKeyFile: flags.masterKeyFile, issuer: flags.issuer },
      env: io.env,
      cwd: io.cwd,
    });
  } catch (error) {
    if (error instanceof server.ConfigError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  let result: Awaited<ReturnType<typeof server.recoverAdmin>>;
  try {
    result = await server.recoverAdmin(config, { out: flags.out === undefined ? undefined : path.resolve(io.cwd, flags.out), force: flags.force });
  } catch (error) {
    if (error instanceof server.RecoverAdminError || (error as { code?: unknown }).code === 'MASTER_KEY_MISMATCH') {
      throw new UsageError((error as Error).message, { cause: error });
    }
    throw new CliError(`recover-admin failed: ${describeError(error)}`, EXIT.failure, { cause: error });
  }
  const summary = { principal: result.principal, credentialFile: result.file, changes: result.changes, otherSystemAdmins: result.otherAdmins };
  if (result.otherAdmins.length > 0 && !flags.json) {
    io.stderr.write(`note: recovery left the other system admins as they are; review them: ${result.otherAdmins.join(', ')}\n`);
  }
  io.stdout.write(flags.json ? formatJson(summary) : formatHuman(summary));
}

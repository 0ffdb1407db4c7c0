// The `tessera` program: builds a fresh commander tree per run (no state survives between
// runs, so tests call run() as often as they like) and turns every outcome into an exit code
// and at most one line on stderr.

import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { Command, CommanderError } from 'commander';

import { registerAdminCommand } from './commands/admin.ts';
import { registerBackupCommand } from './commands/backup.ts';
import { registerCertCommand } from './commands/cert.ts';
import { registerGatewayCommand } from './commands/gateway.ts';
import { registerRecoverAdminCommand } from './commands/recover-admin.ts';
import { registerRestoreCommand } from './commands/restore.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerTokenCommand } from './commands/token.ts';
import { registerVerifyCommand } from './commands/verify.ts';
import { applyClientDefaults } from './client-defaults.ts';
import { CliError, EXIT, describeError, oneLine } from './errors.ts';
import { addExamples, optionDescription } from './help-examples.ts';
import type { CliIo } from './io.ts';

export type { CliIo } from './io.ts';
export { EXIT } from './errors.ts';

/** One entry per top-level command; each lives in src/commands/<name>.ts. */
const COMMANDS: readonly ((program: Command, io: CliIo) => void)[] = [
  registerServeCommand,
  registerAdminCommand,
  registerTokenCommand,
  registerCertCommand,
  registerVerifyCommand,
  registerBackupCommand,
  registerRestoreCommand,
  registerRecoverAdminCommand,
  registerGatewayCommand,
];

export function buildProgram(io: CliIo): Command {
  const program = new Command('tessera')
    .description('Tessera: service-to-service authentication server and tools')
    .version(packageVersion(), '-V, --version')
    .option('--verbose', 'print stack traces on failure (also TESSERA_DEBUG=1)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`${oneLine(text)}\n`),
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false, optionDescription });
  for (const register of COMMANDS) register(program, io);
  addExamples(program);
  // Server, CA bundle and credential file from TESSERA_SERVER, TESSERA_CACERT, TESSERA_CREDENTIALS
  // or the profile, for the options the command line left out (client-defaults.ts).
  program.hook('preAction', (_program, command) => applyClientDefaults(command, io));
  return program;
}

/** Runs `tessera <argv…>` and answers the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    const verbose = argv.includes('--verbose') || isSet(io.env.TESSERA_DEBUG);
    return reportFailure(error, io, verbose);
  }
}

function reportFailure(error: unknown, io: CliIo, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has already printed help, the version, or its one-line usage error.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const expected = error instanceof CliError;
  const reason = oneLine(describeError(error)) || 'unknown error';
  io.stderr.write(`error: ${expected ? reason : `unexpected failure: ${reason}`}\n`);
  if (verbose) io.stderr.write(`${stackOf(error)}\n`);
  return expected ? error.exitCode : EXIT.failure;
}

function stackOf(error: unknown): string {
  const lines: string[] = [];
  for (let current = error; current !== undefined;) {
    lines.push(current instanceof Error ? (current.stack ?? current.message) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push('caused by:');
  }
  return lines.join('\n');
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function packageVersion(): string {
  // By the package's own name: src/main.ts in the repository, dist/src/main.js when installed.
  const manifest = JSON.parse(readFileSync(new URL(import.meta.resolve('@tessera/cli/package.json')), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? '0.0.0';
}

/** The real world, for bin/tessera.ts. */
export function processIo(): CliIo {
  // A reader that stops early (`tessera --help | head`) closes the pipe: what is left to print has
  // no one to read it, which is no failure of the command. Without a listener Node throws EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
      throw error;
    });
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    setPriority: (priority) => setPriority(priority),
  };
}

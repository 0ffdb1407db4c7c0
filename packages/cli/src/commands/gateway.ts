// tessera gateway (docs/gateway.md, docs/cli.md): runs @tessera/gateway from a config file until
// SIGINT or SIGTERM; SIGHUP reloads its routes. The gateway itself lives in packages/gateway.

import type { Command } from 'commander';

import { CliError, EXIT, UsageError, describeError } from '../errors.ts';
import type { CliIo } from '../io.ts';

interface GatewayFlags {
  config?: string;
  workers?: string;
}

export function registerGatewayCommand(program: Command, io: CliIo): void {
  program
    .command('gateway')
    .description('run an authenticating reverse proxy in front of services that cannot use the SDK')
    .option('--config <file>', 'the gateway config file (JSON; also TESSERA_GATEWAY_CONFIG)')
    .option(
      '--workers <n|auto>',
      'processes that serve: 1 (the default: this process serves), a number, or auto (one per core); each has its own upstream token cache',
    )
    .addHelpText(
      'after',
      '\nSettings also from TESSERA_GATEWAY_LISTEN, TESSERA_GATEWAY_TESSERA_URL, TESSERA_GATEWAY_TESSERA_CA, TESSERA_GATEWAY_CLIENT_ID,\n' +
        'TESSERA_GATEWAY_CLIENT_SECRET_FILE, TESSERA_GATEWAY_METRICS_LISTEN and TESSERA_GATEWAY_WORKERS, which win over the file\n' +
        '(--workers wins over all).\n' +
        'SIGHUP (or a change of the file) reloads routes and certificate mappings; a bad file is refused and the running one kept.',
    )
    .action(async (flags: GatewayFlags) => {
      await runGateway(flags, io);
    });
}

async function runGateway(flags: GatewayFlags, io: CliIo): Promise<void> {
  const file = flags.config ?? io.env['TESSERA_GATEWAY_CONFIG'];
  if (file === undefined || file === '') throw new UsageError('tessera gateway needs --config <file> (or TESSERA_GATEWAY_CONFIG)');
  const { loadConfig, parseWorkers, startGateway, startGatewayCluster, GatewayConfigError, createLogWriter } = await import('@tessera/gateway');
  const { resolve } = await import('node:path');
  let config;
  // --workers travels as the variable it overrides, so that every reload reads the same value.
  const env = flags.workers === undefined ? io.env : { ...io.env, TESSERA_GATEWAY_WORKERS: flags.workers };
  try {
    if (flags.workers !== undefined) parseWorkers(flags.workers, '--workers');
    config = loadConfig(resolve(io.cwd, file), env);
  } catch (error) {
    if (error instanceof GatewayConfigError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  const signals = io.signals ?? process;
  let gateway: { reload(): unknown; close(): Promise<void> };
  // Access lines are written in batches, once per turn of the event loop (see log-writer.ts).
  const writer = createLogWriter(io.stdout);
  try {
    gateway =
      config.workers > 1
        ? await startGatewayCluster(config, { env, log: writer.log, output: io.stdout })
        : await startGateway(config, { env, log: writer.log });
  } catch (error) {
    writer.flush();
    throw new CliError(`cannot start the gateway: ${describeError(error)}`, EXIT.failure, { cause: error });
  }
  const reload = (): void => {
    void gateway.reload();
  };
  signals.on?.('SIGHUP', reload);
  try {
    await new Promise<void>((done) => {
      const stop = (): void => {
        signals.off('SIGINT', stop);
        signals.off('SIGTERM', stop);
        done();
      };
      signals.once('SIGINT', stop);
      signals.once('SIGTERM', stop);
    });
    await gateway.close();
  } finally {
    signals.off('SIGHUP', reload);
    writer.flush();
  }
}

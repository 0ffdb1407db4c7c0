// tessera serve (docs/cli.md). Flags go to the server's loadConfig untouched (undefined when not
// given) so it can layer them over the config file and TESSERA_* variables itself.

import type { Command } from 'commander';

import { CliError, EXIT, UsageError, describeError } from '../errors.ts';
import type { CliIo, Env, SignalSource } from '../io.ts';

export interface RunningServer {
  url: string;
  /** `signal`: what asked the server to stop, for its last log line. */
  close(signal?: string): Promise<void>;
  /** Reads the operator's server certificate files again (SIGHUP). */
  reloadTls?(): Promise<void>;
}

/** The part of `@tessera/server` this command uses; injectable for tests. */
export interface ServerApi {
  loadConfig(input: { flags: Record<string, string | undefined>; env: Env; cwd: string }): unknown;
  startServer(config: unknown): Promise<RunningServer>;
  ConfigError: abstract new (...args: never[]) => Error;
}

interface ServeOptions {
  dataDir?: string;
  listen?: string;
  issuer?: string;
  database?: string;
  config?: string;
  masterKeyFile?: string;
  logLevel?: string;
  logFormat?: string;
  signingAlg?: string;
  workers?: string;
  workerDistribution?: string;
  tlsName?: string[];
  tlsCert?: string;
  tlsKey?: string;
  sharedDataDir?: boolean;
}

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the Tessera server (defaults: ./.tessera data dir, https://127.0.0.1:8443)')
    .option('--data-dir <dir>', 'database, CA, keys and bootstrap credential (default: ./.tessera)')
    .option('--listen <url>', 'https://host:port or http://host:port (default: https://127.0.0.1:8443)')
    .option(
      '--issuer <url>',
      'the iss of every token, a name the server certificate covers (default: the listen URL; required when listening on 0.0.0.0 or [::])',
    )
    .option(
      '--tls-name <name>',
      'a further DNS name or IP address the self-issued server certificate covers (repeatable)',
      (name: string, names: string[] | undefined) => [...(names ?? []), name],
    )
    .option(
      '--tls-cert <file>',
      "serve this certificate (PEM: the certificate, then its chain) instead of one from Tessera's CA; reloaded when it changes or on SIGHUP",
    )
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert')
    .option('--database <url>', 'postgres://… instead of the embedded SQLite database')
    .option('--config <file>', 'config file; flags and TESSERA_* variables override it')
    .option('--master-key-file <file>', 'master key sealing private keys at rest')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-format <format>', 'pretty (time, level, message, key=value), json, or auto (the default: pretty on a terminal)')
    .option('--signing-alg <alg>', 'token signing algorithm: ES256, EdDSA or RS256')
    .option('--workers <n|auto>', 'processes that serve requests: auto (one per core, the default) or a number; 1 serves from this process')
    .option(
      '--worker-distribution <how>',
      'round-robin (the default: every worker used, each enforcing its share of the rate limits) or by-address (an address stays on one worker)',
    )
    .option(
      '--shared-data-dir',
      'let several instances on this host share one SQLite data dir (changes seen within 200 ms); without it a second one is refused',
    )
    .addHelpText(
      'after',
      '\nEach flag can also be set as TESSERA_<NAME> (e.g. TESSERA_DATA_DIR; TESSERA_TLS_NAMES, comma-separated, for --tls-name) or in the config file.\n' +
        'SIGHUP reads the --tls-cert and --tls-key files again.',
    )
    .action(async (options: ServeOptions) => {
      await serve(options, io);
    });
}

async function serve(options: ServeOptions, io: CliIo): Promise<void> {
  const server = await (io.loadServer ?? importServer)();
  const flags: Record<string, string | undefined> = {
    dataDir: options.dataDir,
    listen: options.listen,
    issuer: options.issuer,
    database: options.database,
    config: options.config,
    masterKeyFile: options.masterKeyFile,
    logLevel: options.logLevel,
    logFormat: options.logFormat,
    signingAlg: options.signingAlg,
    workers: options.workers,
    workerDistribution: options.workerDistribution,
    // Host names and addresses hold no comma, so the list travels as TESSERA_TLS_NAMES spells it.
    tlsName: options.tlsName?.join(','),
    tlsCert: options.tlsCert,
    tlsKey: options.tlsKey,
    sharedDataDir: options.sharedDataDir === true ? 'true' : undefined,
  };
  // Listening for the stop signals before the server starts: a SIGTERM sent as soon as the server
  // says it serves (a supervisor's stop, a test) must drain it, not kill the process.
  const signals = io.signals ?? process;
  const stop = listenForStop(signals);
  let running: RunningServer | undefined;
  const reload = (): void => {
    void running?.reloadTls?.();
  };
  signals.on?.('SIGHUP', reload);
  try {
    try {
      running = await server.startServer(server.loadConfig({ flags, env: io.env, cwd: io.cwd }));
    } catch (error) {
      stop.cancel();
      if (error instanceof server.ConfigError) throw new UsageError(error.message, { cause: error });
      throw new CliError(`cannot start the server: ${describeError(error)}`, EXIT.failure, { cause: error });
    }
    const signal = await stop.signal;
    try {
      await running.close(signal);
    } catch (error) {
      throw new CliError(`error while stopping the server: ${describeError(error)}`, EXIT.failure, { cause: error });
    }
  } finally {
    // Kept until the server is closed: a SIGHUP without a listener would end the process mid-drain.
    signals.off('SIGHUP', reload);
  }
}

async function importServer(): Promise<ServerApi> {
  // Loaded on demand: the server pulls in fastify, storage drivers and the CA, which the
  // client commands never need. This entry loads them only in the process that serves: with
  // several workers, not in this one.
  return await import('@tessera/server/serve');
}

/**
 * Resolves on the first SIGINT or SIGTERM and removes both listeners, so a second signal
 * during a slow shutdown gets Node's default behaviour and ends the process at once.
 */
function listenForStop(signals: SignalSource): { signal: Promise<string>; cancel(): void } {
  let cancel = (): void => {};
  const signal = new Promise<string>((resolve) => {
    const listeners = { SIGINT: (): void => stop('SIGINT'), SIGTERM: (): void => stop('SIGTERM') };
    cancel = (): void => {
      signals.off('SIGINT', listeners.SIGINT);
      signals.off('SIGTERM', listeners.SIGTERM);
    };
    const stop = (name: string): void => {
      cancel();
      resolve(name);
    };
    signals.once('SIGINT', listeners.SIGINT);
    signals.once('SIGTERM', listeners.SIGTERM);
  });
  return { signal, cancel };
}

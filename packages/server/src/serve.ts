// What `tessera serve` loads: configuration and a start that is one process (`workers` 1, the
// server in this process) or a cluster (cluster/primary.ts). Kept apart from index.ts so that a
// cluster's primary never loads fastify, the storage drivers or the CA.

import type { Config } from './config/config.ts';
import { resolveLogFormat } from './lib/log-format.ts';

export { loadConfig, ConfigError } from './config/load.ts';
export type { Config } from './config/config.ts';

export interface RunningServer {
  url: string;
  /** Drains and stops; `signal` (what asked for it) goes on the line that says it stopped. */
  close(signal?: string): Promise<void>;
}

export async function startServer(given: Config, options: { logStream?: { write(line: string): void } } = {}): Promise<RunningServer> {
  // Decided here, once: a cluster's workers write to the same stdout, but are told, not left to guess.
  const config: Config = { ...given, logFormat: resolveLogFormat(given.logFormat, options.logStream === undefined ? process.stdout.isTTY : false) };
  if (config.workers > 1) {
    const { startCluster } = await import('./cluster/primary.ts');
    return startCluster(config, options);
  }
  const single = await import('./server.ts');
  return single.startServer(config, options);
}

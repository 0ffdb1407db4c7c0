// What `tessera serve` loads: configuration and a start that is one process (`workers` 1, the
// server in this process) or a cluster (cluster/primary.ts). Kept apart from index.ts so that a
// cluster's primary never loads fastify, the storage drivers or the CA.

import type { Config } from './config/config.ts';

export { loadConfig, ConfigError } from './config/load.ts';
export type { Config } from './config/config.ts';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
  /** Reads the operator's server certificate files again now, in every process (SIGHUP). */
  reloadTls(): Promise<void>;
}

export async function startServer(config: Config, options: { logStream?: { write(line: string): void } } = {}): Promise<RunningServer> {
  if (config.workers > 1) {
    const { startCluster } = await import('./cluster/primary.ts');
    return startCluster(config, options);
  }
  const single = await import('./server.ts');
  return single.startServer(config, options);
}

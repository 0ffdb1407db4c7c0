// What `tessera serve` loads: configuration and a start that is one process (`workers` 1, the
// server in this process) or a cluster (cluster/primary.ts). Kept apart from index.ts so that a
// cluster's primary never loads fastify, the storage drivers or the CA.

import type { Config } from './config/config.ts';
import { DataDirInUseError, holderOf, lockDataDir } from './lib/data-dir-lock.ts';
import { resolveLogFormat } from './lib/log-format.ts';

export { loadConfig, ConfigError } from './config/load.ts';
export type { Config } from './config/config.ts';

export interface RunningServer {
  url: string;
  /** Drains and stops; `signal` (what asked for it) goes on the line that says it stopped. */
  close(signal?: string): Promise<void>;
  /** Reads the operator's server certificate files again now, in every process (SIGHUP). */
  reloadTls(): Promise<void>;
}

export async function startServer(given: Config, options: { logStream?: { write(line: string): void } } = {}): Promise<RunningServer> {
  // Decided here, once: a cluster's workers write to the same stdout, but are told, not left to guess.
  const config: Config = { ...given, logFormat: resolveLogFormat(given.logFormat, options.logStream === undefined ? process.stdout.isTTY : false) };
  // The process that serves holds the embedded data dir; its cluster workers are its own.
  const lock = config.database.kind === 'sqlite' && config.sharedDataDir !== true ? await lockDataDir(config.dataDir, config.listen.href) : null;
  // A shared dir takes no lock, but a restore's lock still keeps it out: the restore renames its
  // database into place under whatever a serve has opened meanwhile.
  if (config.database.kind === 'sqlite' && config.sharedDataDir === true) {
    const holder = await holderOf(config.dataDir);
    if (holder?.command === 'tessera restore') {
      throw new DataDirInUseError(
        `the data dir ${config.dataDir} is being restored by tessera restore (pid ${holder.pid}): start serve once the restore has finished`,
        holder,
      );
    }
  }
  let running: RunningServer;
  try {
    if (config.workers > 1) {
      const { startCluster } = await import('./cluster/primary.ts');
      running = await startCluster(config, options);
    } else {
      const single = await import('./server.ts');
      running = await single.startServer(config, options);
    }
  } catch (error) {
    await lock?.release();
    throw error;
  }
  // Not awaited: the URL in the lock only informs a second start's message, and the caller sets
  // up its signal handlers once this returns. Release waits for it, so the two never cross.
  const recorded = lock?.serving(running.url).catch(() => undefined);
  return {
    url: running.url,
    async close(signal) {
      try {
        await running.close(signal);
      } finally {
        await recorded;
        await lock?.release();
      }
    },
    reloadTls: () => running.reloadTls(),
  };
}

// What the primary and its workers say to each other over the cluster's IPC channel. The
// Config travels whole (the primary validated it once), with its one URL as text.

import type { Config } from '../config/config.ts';

export type WireConfig = Omit<Config, 'listen'> & { listen: string };

export function configToWire(config: Config): WireConfig {
  return { ...config, listen: config.listen.href };
}

export function configFromWire(wire: WireConfig): Config {
  return { ...wire, listen: new URL(wire.listen) };
}

/** Primary → worker. A `connection` message carries the accepted socket as its handle. */
export type ToWorker =
  | { type: 'start'; config: WireConfig; worker: number; ownsTimers: boolean }
  | { type: 'connection' }
  /** Read the server certificate files again now (SIGHUP to the primary). */
  | { type: 'reload-tls' }
  | { type: 'shutdown' };

/** Worker → primary. */
export type FromWorker = { type: 'ready'; wroteBootstrapCredential: boolean } | { type: 'failed'; message: string };

export { isMessage } from '@tessera/cluster';

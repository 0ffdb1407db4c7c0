// What a command may touch of the outside world. main.ts fills it from `process`; tests pass
// their own, so they run the whole CLI in-process and read exactly what a user would see.

import type { ServerApi } from './commands/serve.ts';

export interface TextSink {
  write(text: string): unknown;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The part of `process` that delivers SIGINT and SIGTERM, and SIGHUP to `serve` (it reloads the server certificate files). */
export interface SignalSource {
  once(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP', listener: () => void): unknown;
  on?(signal: 'SIGHUP', listener: () => void): unknown;
}

/** Timers of the event loop; `tessera cert --watch` sleeps with these, tests pass fakes. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** Read only when a command is told to (`tessera verify -`); absent means empty. */
  stdin?: AsyncIterable<string | Uint8Array>;
  env: Env;
  /** Relative paths in flags and the `./.tessera/…` defaults are resolved against this. */
  cwd: string;
  /** Milliseconds since the epoch; relative times such as `--since 1h` count from it. */
  now?: () => number;
  /** Defaults to `process`. */
  signals?: SignalSource;
  /** Defaults to the global setTimeout and clearTimeout. */
  timers?: Timers;
  /** A number in [0, 1); defaults to Math.random. Spreads renewal times (jitter). */
  random?: () => number;
  /** Sets this process's CPU priority (os.setPriority); absent in tests, whose process is shared. `backup` lowers it. */
  setPriority?: (priority: number) => void;
  /** Defaults to importing `@tessera/server`; only `serve` loads it. */
  loadServer?: () => Promise<ServerApi>;
}

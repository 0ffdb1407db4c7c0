// Node's compile cache for the CLI and the server it starts: V8 keeps the bytecode of every module
// it compiled (for TypeScript, of the source once its types are stripped) in a directory, and the
// next start reads it instead of compiling again. `tessera serve` reaches /readyz in about half
// the time (≈1.1 s → ≈0.5 s on a 2-core machine), and so does every `tessera` command.
//
// The directory is the user's own cache (XDG_CACHE_HOME, else ~/.cache), never a shared /tmp,
// where another user could plant a cache entry. NODE_COMPILE_CACHE set by the operator wins (Node
// has then enabled it itself); NODE_DISABLE_COMPILE_CACHE turns it off. A directory that cannot
// be written (a service user without a home, a read-only file system) leaves it off, silently:
// the cache only ever saves time.
//
// Children inherit it through NODE_COMPILE_CACHE: the re-executed `serve` (serve-flags.ts) and
// its worker processes start with the cache Node enables from that variable.

import { constants, enableCompileCache } from 'node:module';
import { join } from 'node:path';

export interface CompileCacheProcess {
  env: Record<string, string | undefined>;
}

/** Where the cache goes, or undefined when it must stay off (or Node already enabled it from NODE_COMPILE_CACHE). */
export function compileCacheDir(env: Record<string, string | undefined>, home: string | undefined): string | undefined {
  if (env['NODE_DISABLE_COMPILE_CACHE'] || env['NODE_COMPILE_CACHE']) return undefined;
  const base = env['XDG_CACHE_HOME'] || (home ? join(home, '.cache') : undefined);
  return base && base.startsWith('/') ? join(base, 'tessera', 'node-compile-cache') : undefined;
}

/** Turns the cache on for this process and the processes it starts; returns the directory when it did. */
export function useCompileCache(proc: CompileCacheProcess, home: string | undefined, enable = enableCompileCache): string | undefined {
  const dir = compileCacheDir(proc.env, home);
  if (dir === undefined) return undefined;
  const { status } = enable(dir);
  if (status !== constants.compileCacheStatus.ENABLED && status !== constants.compileCacheStatus.ALREADY_ENABLED) return undefined;
  proc.env['NODE_COMPILE_CACHE'] = dir;
  return dir;
}

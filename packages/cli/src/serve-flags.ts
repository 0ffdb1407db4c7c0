// `tessera serve` runs with a small V8 young generation, an old generation that grows in small
// steps, and few malloc arenas. By default V8 lets
// each semi-space grow to 32 MB under load, and a busy token endpoint makes it do so; glibc gives
// each thread that allocates (V8's GC helpers among them) an arena of its own. Against V8's and
// glibc's defaults, small semi-spaces and two arenas take `tessera serve` from ~157 to ~110 MB idle
// and from ~195-210 to ~134-145 MB at peak under token load (32 connections).
// Why 2 MB (bench/token-profile.ts, --workers auto, idle machine, 2026-12-05, two runs each):
// 1 MB semi-spaces collected so often that CPU per token rose (0.207-0.234 vs 0.201-0.211 ms),
// p99 at half of peak doubled (16-22 vs 10-11 ms) and freed ArrayBuffers piled up between major
// GCs (peak RSS 139-222 vs 134-145 MB); 4 MB gave no more tokens for ~20 MB more per process.
// The old generation may grow by half of what survived its last collection before the next one
// (V8 picks up to 4 times): peak RSS 135-140 instead of 142-148 MB per process under token load,
// 143-145 instead of 146-150 MB with token reuse, CPU per token unchanged (0.304-0.309 vs 0.297-0.348 ms;
// 30 % saved as much memory for slightly more CPU; bench/token-profile.ts, 2026-12-06).
//
// All are read when the process starts, so none can be set from inside it
// (v8.setFlagsFromString comes too late for the heap's layout). The bin re-executes itself before
// loading anything else: process.execve replaces the process image, so the server keeps the PID
// it was started with, and supervisors' signals reach it directly. Where execve is not available
// (Windows), the server runs with the defaults; give node the flags above on its command line
// (NODE_OPTIONS takes --max-semi-space-size but refuses --heap-growing-percent).
// A flag or MALLOC_ARENA_MAX the operator set is left as it is.
//
// Imports nothing: the bin calls this before the CLI is loaded, so a re-execution costs no work.

export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=50'];
/** glibc's tunable; other C libraries ignore it. */
export const SERVE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

function isServe(args: readonly string[]): boolean {
  return args.find((arg) => !arg.startsWith('-')) === 'serve';
}

/** The node flags the process must be started again with to serve; empty when it need not be. */
export function serveFlagsToAdd(args: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  if (!isServe(args)) return [];
  // A flag the operator set, on the command line or in NODE_OPTIONS, wins over ours.
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((flag) => flag.split('=')[0]!.replaceAll('_', '-'));
  return SERVE_NODE_FLAGS.filter((flag) => !given.includes(flag.split('=')[0]!));
}

/** The environment variables to add for serving; empty when none is missing. */
export function serveEnvToAdd(args: readonly string[], env: Record<string, string | undefined>): Record<string, string> {
  if (!isServe(args)) return {};
  return Object.fromEntries(Object.entries(SERVE_ENV).filter(([name]) => env[name] === undefined));
}

export interface ExecveProcess {
  argv: readonly string[];
  execArgv: readonly string[];
  execPath: string;
  env: Record<string, string | undefined>;
  execve?: (file: string, args?: readonly string[], env?: Record<string, string | undefined>) => never;
}

/** Re-executes `tessera serve` with what SERVE_NODE_FLAGS and SERVE_ENV it misses; returns when nothing is to be done. */
export function restartWithServeFlags(proc: ExecveProcess): void {
  const [, script, ...args] = proc.argv;
  const flags = serveFlagsToAdd(args, proc.execArgv, proc.env['NODE_OPTIONS']);
  const env = serveEnvToAdd(args, proc.env);
  if ((flags.length === 0 && Object.keys(env).length === 0) || script === undefined || typeof proc.execve !== 'function') return;
  proc.execve(proc.execPath, [proc.execPath, ...proc.execArgv, ...flags, script, ...args], { ...proc.env, ...env });
}

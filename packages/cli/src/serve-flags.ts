// `tessera serve` runs with a small V8 young generation. By default V8 lets each semi-space grow
// to tens of megabytes under load, and a busy token endpoint makes it do so: peak RSS ~200 MB at
// 32 connections and ~310 MB at 128, against ~145 MB with 1 MB semi-spaces, for the same tokens
// per CPU-second (the short-lived objects of one request die young either way).
//
// V8 sizes the heap when the process starts, so the flag cannot be set from inside it
// (v8.setFlagsFromString comes too late). The bin re-executes itself with the flag before loading
// anything else: process.execve replaces the process image, so the server keeps the PID it was
// started with, and supervisors' signals reach it directly. Where execve is not available
// (Windows), the server runs without the flag; NODE_OPTIONS=--max-semi-space-size=1 sets it.
//
// Imports nothing: the bin calls this before the CLI is loaded, so a re-execution costs no work.

export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The node flags the process must be started again with to serve; empty when it need not be. */
export function serveFlagsToAdd(args: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const command = args.find((arg) => !arg.startsWith('-'));
  if (command !== 'serve') return [];
  // A flag the operator set, on the command line or in NODE_OPTIONS, wins over ours.
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((flag) => flag.split('=')[0]!.replaceAll('_', '-'));
  return SERVE_NODE_FLAGS.filter((flag) => !given.includes(flag.split('=')[0]!));
}

export interface ExecveProcess {
  argv: readonly string[];
  execArgv: readonly string[];
  execPath: string;
  env: Record<string, string | undefined>;
  execve?: (file: string, args?: readonly string[], env?: Record<string, string | undefined>) => never;
}

/** Re-executes `tessera serve` with SERVE_NODE_FLAGS when they are missing; returns when nothing is to be done. */
export function restartWithServeFlags(proc: ExecveProcess): void {
  const [, script, ...args] = proc.argv;
  const flags = serveFlagsToAdd(args, proc.execArgv, proc.env['NODE_OPTIONS']);
  if (flags.length === 0 || script === undefined || typeof proc.execve !== 'function') return;
  proc.execve(proc.execPath, [proc.execPath, ...proc.execArgv, ...flags, script, ...args], proc.env);
}

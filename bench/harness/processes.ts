// Child processes of a benchmark run: the servers under test and the load generator. Each is
// the leader of its own process group, so a cluster's workers go down with their primary,
// and everything this run started is killed on exit, on Ctrl-C and when a row times out.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100;
const STOP_GRACE_MS = 8000;
const STDERR_KEPT = 4000;

export interface Child {
  readonly process: ChildProcess;
  /** The last few kilobytes of stderr, to explain a failure. */
  stderr(): string;
  /** Resolves with each JSON line the child writes on stdout. */
  lines: AsyncIterable<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export class Children {
  private readonly live = new Set<ChildProcess>();
  private readonly leftovers = new Set<() => Promise<void>>();

  /** Cleanup (a data dir, a database) to run if the run is interrupted; returns its removal. */
  leaveBehind(cleanup: () => Promise<void>): () => void {
    this.leftovers.add(cleanup);
    return () => this.leftovers.delete(cleanup);
  }

  /** Set once the run is interrupted: settles when everything is killed and cleaned up. */
  stopping: Promise<void> | undefined;

  /** Ctrl-C: every child killed, then what the interrupted rows could not clean up. */
  interrupt(): Promise<void> {
    this.stopping ??= (async () => {
      this.killAll();
      await this.cleanUp(5000);
    })();
    return this.stopping;
  }

  /** After killAll: what the interrupted rows could not clean up, within `ms`. */
  async cleanUp(ms: number): Promise<void> {
    const tasks = [...this.leftovers].map((cleanup) => cleanup().catch(() => {}));
    this.leftovers.clear();
    await Promise.race([Promise.all(tasks), new Promise((resolve) => setTimeout(resolve, ms))]);
  }

  /**
   * `work` under a hard deadline: past `budgetMs` every child of the run is killed, what was left
   * behind is cleaned up and the promise rejects. When the run is interrupted meanwhile, it never
   * settles: the signal handler ends the run instead.
   */
  async withDeadline<T>(work: () => Promise<T>, budgetMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.killAll();
        void this.cleanUp(5000).finally(() => reject(new Error(`timed out after ${budgetMs / 1000} s`)));
      }, budgetMs);
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (error) {
      if (this.stopping) await new Promise(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `wrapper`: a command that runs Node (`valgrind --tool=callgrind …`); the child's pid is then the wrapper's. */
  spawn(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; nodeFlags?: string[]; wrapper?: string[] } = {}): Child {
    const [command, ...wrapperArgs] = [...(options.wrapper ?? []), process.execPath];
    const child = spawn(command!, [...wrapperArgs, ...(options.nodeFlags ?? []), script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
    });
    this.live.add(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        this.live.delete(child);
        resolve(code);
      });
      child.once('error', () => {
        this.live.delete(child);
        resolve(null);
      });
    });
    const lines = (async function* () {
      for await (const line of createInterface({ input: child.stdout! })) {
        if (line.startsWith('{')) yield JSON.parse(line) as Record<string, unknown>;
      }
    })();
    return { process: child, stderr: () => stderr, lines, exited };
  }

  /** SIGTERM to the leader (a cluster primary stops its workers), then SIGKILL to the group. */
  async stop(child: Child): Promise<void> {
    if (!this.live.has(child.process)) return;
    child.process.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child.process, 'SIGKILL'), STOP_GRACE_MS);
    await child.exited;
    clearTimeout(timer);
    killGroup(child.process, 'SIGKILL');
  }

  /** Synchronous, for exit handlers and timeouts: every group this run started, at once. */
  killAll(): void {
    for (const child of this.live) killGroup(child, 'SIGKILL');
    this.live.clear();
  }
}

/** The children of a whole run: killed when it exits, and on Ctrl-C or SIGTERM with what they left behind cleaned up. */
export function runChildren(): Children {
  const children = new Children();
  process.on('exit', () => children.killAll());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping every server and load generator this run started`);
      void children.interrupt().finally(() => process.exit(130));
    });
  }
  return children;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** The first line `{"ready":true,…}` a server prints, or the reason it never came. */
export async function waitUntilReady(child: Child, timeoutMs: number): Promise<{ pids: number[] }> {
  const iterator = child.lines[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next.done) {
        const code = await child.exited;
        throw new Error(`exited with code ${code} before it was ready: ${lastWords(child.stderr())}`);
      }
      if (next.value['ready'] === true) return { pids: next.value['pids'] as number[] };
    }
  } finally {
    clearTimeout(timer);
  }
}

export interface ServerReport {
  pid: number;
  /** How late the event loop ran since the previous report. */
  loopDelayMs: { p50: number; p99: number; max: number };
  memoryMb: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
}

/** Asks each serving process for its report (SIGUSR2, see servers/cluster.ts); what came within 3 s. */
export async function requestReports(child: Child, pids: readonly number[], expected: number): Promise<ServerReport[]> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      // Gone: its report is missing, which the caller sees.
    }
  }
  const iterator = child.lines[Symbol.asyncIterator]();
  const reports: ServerReport[] = [];
  const deadline = Date.now() + 3000;
  while (reports.length < expected && Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    const next = await Promise.race([iterator.next(), timeout]);
    clearTimeout(timer);
    if (next === 'timeout' || next.done) break;
    if (next.value['report']) reports.push(next.value['report'] as ServerReport);
  }
  return reports;
}

/** The message lines of what a child printed last on stderr, without the stack frames. */
export function lastWords(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '' && !/^\s+at /.test(line) && !line.startsWith('Node.js v') && !/^\s*\^+\s*$/.test(line));
  return lines.slice(-3).join(' | ') || '(nothing on stderr)';
}

/** The tests' own (a loopback port free now), for the harness's children. */
export { freePort } from '@tessera/testkit/port';

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** CPU seconds a process has spent in user space and in the kernel; zeros once it is gone. */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** CPU seconds the whole machine has been busy (all but idle and iowait), over every core. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / TICKS_PER_SECOND;
}

/** VmRSS and VmHWM (peak) of a process, in kB; zeros once it is gone. */
export function memoryKb(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

export interface MemoryPeak {
  /** Largest sum of VmRSS over the processes, sampled every 100 ms. */
  totalMb: number;
  /** Largest VmHWM (the kernel's own peak) of any one process. */
  processMb: number;
}

/** Samples the resident memory of a server's processes every 100 ms until stopped. */
export function sampleMemory(pids: readonly number[]): { stop(): MemoryPeak } {
  let total = 0;
  const hwm = new Map<number, number>();
  const sample = (): void => {
    let sum = 0;
    for (const pid of pids) {
      const { rss, hwm: peak } = memoryKb(pid);
      sum += rss;
      if (peak > 0) hwm.set(pid, peak);
    }
    total = Math.max(total, sum);
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      sample();
      clearInterval(timer);
      const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
      return { totalMb: mb(total), processMb: mb(Math.max(0, ...hwm.values())) };
    },
  };
}

/** The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1], utime [11]); undefined once it is gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function commandName(pid: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of every PostgreSQL process on this machine (the server, its background workers and
 * every backend, whoever's), with what exited children left to their parent (cutime + cstime), so
 * a backend that ends between two readings still counts. Only a local server is seen.
 */
export function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || commandName(pid) !== 'postgres') continue;
    const fields = statFields(pid);
    if (fields) ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Every live descendant of `pid` (children, grandchildren…), e.g. a cluster's workers. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields && fields[0] !== 'Z') parents.set(Number(entry), Number(fields[1]));
  }
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = [...parents].filter(([, parent]) => frontier.includes(parent)).map(([child]) => child);
    found.push(...next);
    frontier = next;
  }
  return found;
}

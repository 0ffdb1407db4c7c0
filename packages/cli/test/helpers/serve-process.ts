// `tessera serve` as its own process for the operator tests: its output as text, started on a
// free port, stopped with a signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from '@tessera/testkit/port';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tessera.ts');

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** stdout and stderr so far. */
  output(): string;
  /** The JSON lines of stdout so far. */
  jsonLines(): Record<string, unknown>[];
  /** Resolves to the exit code. */
  stop(signal?: 'SIGTERM' | 'SIGINT'): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Resolves once it serves (with `waitServing: false`, at once). */
export async function serveProcess(options: {
  dataDir: string;
  args?: string[];
  env?: Record<string, string>;
  port?: number;
  waitServing?: boolean;
}): Promise<ServeProcess> {
  const port = options.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', options.dataDir, '--listen', url, ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    output += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const serve: ServeProcess = {
    child,
    url,
    port,
    output: () => output,
    jsonLines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
    exited,
  };
  if (options.waitServing === false) return serve;
  const started = Date.now();
  while (!output.includes('tessera is serving')) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited with ${child.exitCode}: ${output}`);
    if (Date.now() - started > 60_000) throw new Error(`tessera serve did not start within 60 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return serve;
}

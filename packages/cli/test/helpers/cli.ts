// Runs the tessera CLI in-process and captures what a user would see.

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { run } from '../../src/main.ts';
import type { CliIo } from '../../src/main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: readonly string[], io: Partial<CliIo> & { cwd: string }): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    env: {},
    ...io,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** A working directory, optionally with `.tessera/bootstrap-admin.json` as `tessera serve` writes it. */
export async function makeWorkspace(credentials?: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-cli-'));
  if (credentials !== undefined) {
    await mkdir(path.join(dir, '.tessera'), { mode: 0o700 });
    await writeFile(path.join(dir, '.tessera', 'bootstrap-admin.json'), JSON.stringify(credentials), {
      mode: 0o600,
    });
  }
  return dir;
}

// `tessera serve` tells the operator of a mistyped TESSERA_* variable instead of ignoring it silently.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '@tessera/testkit/port';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

describe('tessera serve with a mistyped TESSERA_* variable', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  for (const workers of ['1', '2']) {
    it(`logs a warning naming the setting it meant (--workers ${workers}), and serves`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tessera-warn-'));
      dirs.push(dataDir);
      const port = await freePort();
      const child = spawn(process.execPath, [BIN, 'serve', '--workers', workers, '--data-dir', dataDir, '--listen', `http://127.0.0.1:${port}`], {
        env: { ...process.env, TESSERA_LOGLEVEL: 'debug' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no start line within 30 s:\n${out}`)), 30_000);
          child.stdout.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('tessera is serving')) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
        });
      } finally {
        child.kill('SIGTERM');
      }
      const warning = out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .find((line) => line.msg.includes('TESSERA_LOGLEVEL'));
      assert.ok(warning, out);
      assert.equal(warning.level, 40);
      assert.equal(warning.msg, 'TESSERA_LOGLEVEL is not a Tessera setting and is ignored; did you mean TESSERA_LOG_LEVEL?');
    });
  }
});

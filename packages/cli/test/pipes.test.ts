// `tessera … | head`: a reader that goes away early is no failure of the command.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

describe('output into a closed pipe', () => {
  for (const args of [['--help'], ['admin', '--help'], ['--version']]) {
    it(`exits 0 without a stack trace when stdout is closed before \`tessera ${args.join(' ')}\` writes`, async () => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      // The read end closes before the CLI has loaded, so its first write meets EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(stderr, '');
      assert.equal(code, 0);
    });
  }
});

// What importing the SDK, and the server and CLI that import it, costs in Node's own modules: not
// Node's fetch implementation (undici). An ES module import of node:http reads every export, and
// its WebSocket getter loads undici; the packages take node:http as require() gives it instead.
// In a child process, since this test runner's own process may have loaded anything.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..', '..');

async function loadsUndici(specifier: string): Promise<boolean> {
  const script = `await import(${JSON.stringify(specifier)}); console.log(process.moduleLoadList.some((m) => m.includes('undici')));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=tessera-source', '--no-warnings', '--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 60_000,
  });
  return stdout.trim() === 'true';
}

describe('importing the packages', () => {
  for (const specifier of ['@tessera/sdk', './packages/server/src/index.ts', './packages/cli/src/main.ts']) {
    it(`${specifier} does not load Node's fetch implementation`, async () => {
      assert.equal(await loadsUndici(specifier), false);
    });
  }
  it('the check sees undici when node:http is imported as an ES module', async () => {
    assert.equal(await loadsUndici('node:http'), true);
  });
});

// What importing the SDK, and the server and CLI that import it, loads: not Node's fetch
// implementation (undici), and not pg until a PostgreSQL pool is opened. An ES module import of
// node:http reads every export, and its WebSocket getter loads undici; the packages take node:http
// as require() gives it instead. In a child process, since this test runner's own process may have
// loaded anything.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..', '..');

async function loads(specifier: string, then = ''): Promise<{ undici: boolean; pg: boolean }> {
  const script =
    `const { createRequire } = await import('node:module'); const loaded = await import(${JSON.stringify(specifier)}); ${then}; ` +
    `const pg = Object.keys(createRequire(import.meta.url).cache).some((file) => /[\\/]node_modules[\\/]pg[\\/]/.test(file)); ` +
    `console.log(JSON.stringify({ undici: process.moduleLoadList.some((m) => m.includes('undici')), pg }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=tessera-source', '--no-warnings', '--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as { undici: boolean; pg: boolean };
}

describe('importing the packages', () => {
  for (const specifier of ['@tessera/sdk', './packages/server/src/index.ts', './packages/cli/src/main.ts']) {
    it(`${specifier} loads neither Node's fetch implementation nor pg`, async () => {
      assert.deepEqual(await loads(specifier), { undici: false, pg: false });
    });
  }
  it('the checks see undici when node:http is imported as an ES module, and pg once a pool is opened', async () => {
    assert.equal((await loads('node:http')).undici, true);
    const open = `await loaded.openPostgresDriver('postgres://nobody@127.0.0.1:1/none').close()`;
    assert.equal((await loads('./packages/server/src/storage/drivers/postgres.ts', open)).pg, true);
  });
});

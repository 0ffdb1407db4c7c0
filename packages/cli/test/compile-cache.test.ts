// The compile cache: in the user's own cache directory, off when asked, inherited by children.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { constants } from 'node:module';
import { compileCacheDir, useCompileCache } from '../src/compile-cache.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');
const run = promisify(execFile);

describe('compile cache', () => {
  const made: string[] = [];
  after(async () => {
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  });

  it('goes under XDG_CACHE_HOME, else ~/.cache, and stays off when disabled, already set, or without an absolute home', () => {
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/c' }, '/home/u'), '/c/tessera/node-compile-cache');
    assert.equal(compileCacheDir({}, '/home/u'), '/home/u/.cache/tessera/node-compile-cache');
    assert.equal(compileCacheDir({ NODE_DISABLE_COMPILE_CACHE: '1' }, '/home/u'), undefined);
    assert.equal(compileCacheDir({ NODE_COMPILE_CACHE: '/elsewhere' }, '/home/u'), undefined);
    assert.equal(compileCacheDir({}, undefined), undefined);
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: 'relative' }, undefined), undefined);
  });

  it('hands the directory to child processes only when Node enabled it', () => {
    const env: Record<string, string | undefined> = {};
    const failed = useCompileCache({ env }, '/home/u', () => ({ status: constants.compileCacheStatus.FAILED, message: 'read-only' }));
    assert.equal(failed, undefined);
    assert.equal(env['NODE_COMPILE_CACHE'], undefined);
    const enabled = useCompileCache({ env }, '/home/u', () => ({
      status: constants.compileCacheStatus.ENABLED,
      directory: '/home/u/.cache/tessera/node-compile-cache',
    }));
    assert.equal(enabled, '/home/u/.cache/tessera/node-compile-cache');
    assert.equal(env['NODE_COMPILE_CACHE'], enabled);
  });

  it('fills the cache on a first run of the CLI, and leaves it empty with NODE_DISABLE_COMPILE_CACHE', async () => {
    const home = await mkdtemp(join(tmpdir(), 'tessera-cc-'));
    made.push(home);
    const env: Record<string, string | undefined> = { ...process.env, HOME: home };
    for (const name of ['NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE', 'XDG_CACHE_HOME']) delete env[name];
    const off = await run(process.execPath, [BIN, '--version'], { env: { ...env, NODE_DISABLE_COMPILE_CACHE: '1' } });
    assert.match(off.stdout, /^\d+\.\d+\.\d+/);
    await assert.rejects(readdir(join(home, '.cache')), { code: 'ENOENT' });
    const on = await run(process.execPath, [BIN, '--version'], { env });
    assert.equal(on.stdout, off.stdout);
    const versions = await readdir(join(home, '.cache', 'tessera', 'node-compile-cache'));
    assert.equal(versions.length, 1);
    assert.ok((await readdir(join(home, '.cache', 'tessera', 'node-compile-cache', versions[0]!))).length > 10);
  });
});

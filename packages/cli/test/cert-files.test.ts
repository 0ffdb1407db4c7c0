// The files in --out-dir are replaced atomically: a reader never sees a torn file, not while
// they are rewritten and not after the writer is killed with SIGKILL at any moment; the key
// stays 0600 throughout, and what a killed writer leaves behind is cleaned up by the next run.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CERTIFICATE_MODE, KEY_MODE, prepareOutDir, replaceFiles } from '../src/cert/out-dir.ts';
import { versionContent, wholeVersion } from './fixtures/versions.ts';

describe('atomic replacement of the certificate files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tessera-cert-files-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('never lets a concurrent reader see a torn file, and keeps key.pem 0600', async () => {
    const files = (version: number) => [
      { file: path.join(dir, 'key.pem'), content: versionContent(version), mode: KEY_MODE },
      { file: path.join(dir, 'cert.pem'), content: versionContent(version), mode: CERTIFICATE_MODE },
    ];
    await replaceFiles(files(0));
    let writing = true;
    const seen = new Set<number>();
    const reader = (async () => {
      let reads = 0;
      while (writing || reads < 10) {
        for (const name of ['key.pem', 'cert.pem']) {
          const text = await readFile(path.join(dir, name), 'utf8');
          const version = wholeVersion(text);
          assert.notEqual(version, undefined, `a torn ${name} of ${text.length} bytes`);
          seen.add(version!);
          assert.equal((await stat(path.join(dir, 'key.pem'))).mode & 0o777, 0o600);
        }
        reads += 1;
      }
    })();
    for (let version = 1; version <= 40; version += 1) await replaceFiles(files(version));
    writing = false;
    await reader;
    assert.ok(seen.size > 1, 'the reader saw the files change');
    assert.deepEqual((await readdir(dir)).sort(), ['cert.pem', 'key.pem'], 'no temp file left');
  });

  it('leaves whole files when the writer is killed with SIGKILL, and the next run removes its temp files', async () => {
    const killed = path.join(dir, 'killed');
    await prepareOutDir(killed, true);
    for (let round = 0; round < 5; round += 1) {
      const child = spawn(process.execPath, [path.join(import.meta.dirname, 'fixtures', 'rewrite-forever.ts'), killed], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      for (const name of ['key.pem', 'cert.pem']) {
        const text = await readFile(path.join(killed, name), 'utf8').catch(() => undefined);
        // Killed before its first rename, the writer left no file; otherwise a whole one.
        if (text !== undefined) assert.notEqual(wholeVersion(text), undefined, `a torn ${name} after SIGKILL in round ${round}`);
      }
    }
    await writeFile(path.join(killed, '.cert.pem.0123456789ab.tmp'), 'left by a killed run');
    await writeFile(path.join(killed, 'notes.txt'), 'not ours');
    await prepareOutDir(killed, false);
    const left = (await readdir(killed)).sort();
    assert.deepEqual(
      left.filter((name) => name.endsWith('.tmp')),
      [],
    );
    assert.ok(left.includes('notes.txt'), 'other files are left alone');
  });
});

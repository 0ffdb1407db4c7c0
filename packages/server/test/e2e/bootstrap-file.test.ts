// The bootstrap admin's credential file is written once, at the first start, into the data dir.
// Whatever is found at its path then is stale (the admin did not exist a moment ago): a symlink
// there must not redirect the secret elsewhere, and an old file's loose permissions must not be
// kept. The file is always a new one, readable by its owner only.

import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestServer } from '@tessera/testkit/server';

async function withDataDir(prepare: (dataDir: string) => Promise<void>, check: (dataDir: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'tessera-bootstrap-file-'));
  const dataDir = join(root, 'data');
  try {
    await writeFile(join(root, 'victim'), 'keep\n', { mode: 0o644 });
    await mkdir(dataDir, { mode: 0o700 });
    await prepare(dataDir);
    const server = await startTestServer({ dataDir });
    try {
      await check(dataDir);
      assert.equal((await server.admin$('GET', '/domains')).status, 200, 'the credential in the file works');
    } finally {
      await server.stop();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function assertFreshCredential(dataDir: string): Promise<void> {
  const file = join(dataDir, 'bootstrap-admin.json');
  const info = await lstat(file);
  assert.ok(info.isFile(), 'a regular file, not a symlink');
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal(JSON.parse(await readFile(file, 'utf8')).clientId, 'sys.auth.admin');
  assert.deepEqual(
    (await readdir(dataDir)).filter((name) => name.startsWith('bootstrap-admin.json.')),
    [],
    'no temporary file left',
  );
}

describe('the bootstrap credential file', () => {
  it('replaces a symlink at its path instead of writing the secret through it', async () => {
    await withDataDir(
      (dataDir) => symlink(join(dataDir, '..', 'victim'), join(dataDir, 'bootstrap-admin.json')),
      async (dataDir) => {
        await assertFreshCredential(dataDir);
        assert.equal(await readFile(join(dataDir, '..', 'victim'), 'utf8'), 'keep\n', 'the symlink target is untouched');
      },
    );
  });

  it('replaces a stale file with loose permissions by a new 0600 one', async () => {
    await withDataDir((dataDir) => writeFile(join(dataDir, 'bootstrap-admin.json'), '{"clientId":"stale"}\n', { mode: 0o644 }), assertFreshCredential);
  });
});

// A second start on the same data dir reuses the master key, CA, signing keys and data, and
// does not write a new bootstrap credential.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startTestServer } from '@tessera/testkit/server';

describe('restart on the same data dir', () => {
  let dataDir = '';
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps keys, CA, credentials and data; files are private', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-restart-'));
    // A fixed issuer: each start listens on a new free port, and iss must not change with it.
    const flags = { issuer: 'https://tessera.test' };
    const first = await startTestServer({ dataDir, flags });
    await first.admin$('POST', '/domains', { name: 'kept' });
    const firstKeys = (await first.send('/oauth2/keys')).json;
    const token = await first.adminToken();
    const credential = await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8');
    await first.stop();

    for (const file of ['master.key', 'bootstrap-admin.json', 'ca.pem', 'tessera.db']) {
      const mode = (await stat(join(dataDir, file))).mode & 0o777;
      assert.equal(mode, 0o600, `${file} is 0600`);
    }

    const second = await startTestServer({ dataDir, flags });
    try {
      assert.equal(second.server.bootstrapCredentialFile, null);
      assert.equal(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8'), credential);
      assert.equal(second.ca, first.ca);
      assert.deepEqual((await second.send('/oauth2/keys')).json, firstKeys);
      assert.equal((await second.admin$('GET', '/domains/kept', undefined, token)).status, 200, 'a token from the first run still works');
    } finally {
      await second.stop();
    }
  });

  it('refuses to start with a different master key, saying so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-mk-'));
    try {
      const first = await startTestServer({ dataDir: dir });
      await first.stop();
      const other = Buffer.alloc(32, 7).toString('base64');
      await assert.rejects(startTestServer({ dataDir: dir, env: { TESSERA_MASTER_KEY: other } }), /master key differs/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

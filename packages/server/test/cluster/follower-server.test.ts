// A server built for a cluster worker other than the first (ownsTimers: false) leaves `ca.pem`
// and audit pruning to worker 0: here with a clock 40 days ahead, past the token events'
// retention, it writes no bundle file and prunes nothing.

import assert from 'node:assert/strict';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { createServer } from '../../src/server.ts';
import { startTestServer } from '@tessera/testkit/server';

const DAY_MS = 86_400_000;

function tokenEvents(dataDir: string): number {
  const db = new DatabaseSync(join(dataDir, 'tessera.db'), { readOnly: true });
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'token.issued'").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

void describe('a cluster follower server', () => {
  void it('writes no ca.pem and prunes no audit, though both would be due', async () => {
    const owner = await startTestServer();
    try {
      await owner.adminToken();
      await owner.server.flushAudit();
      assert.equal(tokenEvents(owner.dataDir), 1);
      const bundle = join(owner.dataDir, 'ca.pem');
      await rm(bundle);

      const follower = await createServer(owner.server.config, { ownsTimers: false, worker: 1, now: () => Date.now() + 40 * DAY_MS });
      try {
        follower.start();
        // Pruning runs 5 s after the start of the one server that owns it.
        await new Promise((resolve) => setTimeout(resolve, 6000));
        await assert.rejects(access(bundle), { code: 'ENOENT' });
        assert.equal(tokenEvents(owner.dataDir), 1);
      } finally {
        await follower.close();
      }
    } finally {
      await owner.stop();
    }
  });
});

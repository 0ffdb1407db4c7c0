// How many bytes the audit writes per refused token request: a stranger sends token requests
// with wrong secrets (most answered 429 by the address limit, the rest 401) for a bounded time,
// and the database's growth is measured before and after, then scaled to one million requests.
// `node bench/refused-audit-bytes.ts [seconds=20] [--postgres]` (PostgreSQL on 127.0.0.1:5432).

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { basic, startTestServer } from '@tessera/testkit/server';
import { createTestDatabase } from '../packages/server/test/storage/postgres-database.ts';

const seconds = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 20);
const postgres = process.argv.includes('--postgres');
const WORKERS = 16;

const database = postgres ? await createTestDatabase() : null;
const t = await startTestServer({
  ...(database ? { flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 5).toString('base64') } } : {}),
});

/** Bytes the database holds now: the audit table with its indexes (PostgreSQL), or the whole file after a checkpoint (SQLite). */
async function size(): Promise<number> {
  await t.server.flushAudit();
  if (database) {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query('VACUUM audit_events');
      const { rows } = await client.query<{ n: string }>("SELECT pg_total_relation_size('audit_events') AS n");
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  const path = join(t.dataDir, 'tessera.db');
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return statSync(path).size;
}

try {
  const before = await size();
  const statuses = new Map<number, number>();
  const until = Date.now() + seconds * 1000;
  const worker = async (id: number): Promise<void> => {
    for (let i = 0; Date.now() < until; i++) {
      const res = await t.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(`alpha.guess${id}-${i % 50}`, 'wrong') },
        body: `grant_type=client_credentials&scope=${'alpha:role.readers+'.repeat(40)}`,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, id) => worker(id)));
  const sent = [...statuses.values()].reduce((sum, n) => sum + n, 0);
  const after = await size();
  const rows = (await t.server.store.queryAudit({ limit: 1_000_000 })).length;
  const grown = after - before;
  console.log(
    JSON.stringify(
      {
        backend: postgres ? 'postgres (pg_total_relation_size audit_events)' : 'sqlite (file after checkpoint)',
        seconds,
        requests: sent,
        statuses: Object.fromEntries(statuses),
        auditRows: rows,
        bytesBefore: before,
        bytesAfter: after,
        bytesPerRequest: Number((grown / sent).toFixed(2)),
        bytesPerMillionRequests: Math.round((grown / sent) * 1e6),
      },
      null,
      2,
    ),
  );
} finally {
  await t.stop();
  await database?.drop();
}

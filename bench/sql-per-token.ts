// A short smoke run (a few seconds, both backends): SQL statements sent per token in steady
// state, read from tessera_sql_statements_total, audit batches and the registry feed's poll
// included. The token path itself reads the registry from memory (storage/registry-cache.ts).
//
//   node bench/sql-per-token.ts [tokens]

import { sqlStatements } from '../packages/server/src/storage/drivers/statements.ts';
import { startTestServer } from '@tessera/testkit/server';
import { createTestDatabase } from '../packages/server/test/storage/postgres-database.ts';

const TOKENS = Number(process.argv[2] ?? 2000);
const CLIENTS = 20;
const IN_FLIGHT = 8;
const UNLIMITED = '1000000';

async function statementsSent(backend: string): Promise<number> {
  return (await sqlStatements.get()).values.find((value) => value.labels['backend'] === backend)?.value ?? 0;
}

for (const backend of ['sqlite', 'postgres'] as const) {
  const database = backend === 'postgres' ? await createTestDatabase() : undefined;
  const t = await startTestServer({
    ...(database ? { flags: { database: database.url } } : {}),
    env: {
      TESSERA_MASTER_KEY: Buffer.alloc(32, 3).toString('base64'),
      TESSERA_RATE_LIMIT_CLIENT: UNLIMITED,
      TESSERA_RATE_LIMIT_CLIENT_BURST: UNLIMITED,
      TESSERA_RATE_LIMIT_IP: UNLIMITED,
      TESSERA_RATE_LIMIT_IP_BURST: UNLIMITED,
    },
  });
  try {
    await t.admin$('POST', '/domains', { name: 'alpha' });
    await t.admin$('POST', '/domains', { name: 'beta' });
    const clients: { id: string; secret: string }[] = [];
    for (let i = 0; i < CLIENTS; i += 1) {
      const res = await t.admin$('POST', '/domains/alpha/services', { name: `c${i}` });
      clients.push({ id: `alpha.c${i}`, secret: res.json.clientSecret as string });
    }
    await t.admin$('PUT', '/domains/beta/roles/readers', { members: clients.map((c) => ({ principal: c.id })) });
    const ask = (c: { id: string; secret: string }): Promise<number> =>
      t.token(c.id, c.secret, { grant_type: 'client_credentials', scope: 'beta:domain' }).then((res) => res.status);
    for (const c of clients) await ask(c);
    // The feed has delivered the setup's changes before counting starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await t.server.flushAudit();
    const start = await statementsSent(backend);
    const began = performance.now();
    let next = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < TOKENS) if ((await ask(clients[next++ % CLIENTS]!)) !== 200) failed += 1;
      }),
    );
    await t.server.flushAudit();
    const sent = (await statementsSent(backend)) - start;
    const seconds = (performance.now() - began) / 1000;
    console.log(`${backend}: ${TOKENS} tokens (${failed} failed) in ${seconds.toFixed(1)} s: ${sent} SQL statements, ${(sent / TOKENS).toFixed(4)} per token`);
  } finally {
    await t.stop();
    await database?.drop();
  }
}

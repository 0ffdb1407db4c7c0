// PostgreSQL really stopped and started under token load: what callers see while it is down,
// and how soon tokens come back. It stops the machine's own PostgreSQL (pg_ctlcluster), so it
// runs only when asked to: `node bench/postgres-restart.ts --stop-the-real-postgres`.
// The test suite simulates the same outage with a TCP proxy (postgres-outage.test.ts).

import { execSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer } from '@tessera/testkit/server';
import { createTestDatabase } from '../packages/server/test/storage/postgres-database.ts';

if (!process.argv.includes('--stop-the-real-postgres')) {
  console.error('This stops and starts the PostgreSQL cluster of this machine. Run it with --stop-the-real-postgres.');
  process.exit(2);
}

const WORKERS = 4;
const DOWN_MS = 5000;
const RUN_MS = 16_000;
const cluster = execSync('ls /etc/postgresql').toString().trim().split('\n')[0]!;
const pgctl = (verb: string): void => void execSync(`pg_ctlcluster --skip-systemctl-redirect ${cluster} main ${verb}`);
const ensureUp = (): void => {
  try {
    execSync('pg_isready -h 127.0.0.1 -q');
  } catch {
    pgctl('start');
  }
};
process.on('exit', ensureUp);

interface Sample {
  at: number;
  ms: number;
  outcome: string;
}

const database = await createTestDatabase();
const t = await startTestServer({
  flags: { database: database.url },
  env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') },
  // One client from one address: the limits would otherwise be what this measures.
  edit: (config) => void (config.rateLimits = { client: { rate: 0, burst: 0 }, ip: { rate: 0, burst: 0 } }),
});
try {
  await t.admin$('POST', '/domains', { name: 'alpha' });
  const secret = (await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).json.clientSecret as string;
  await t.admin$('PUT', '/domains/alpha/roles/readers', { members: [{ principal: 'alpha.api' }] });

  const samples: Sample[] = [];
  const until = Date.now() + RUN_MS;
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const at = Date.now();
      const outcome = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'alpha:domain' }).then(
        (res) => `${res.status}${res.status === 200 ? '' : ` ${String(res.json?.error)}`}`,
        (error: unknown) => `transport ${(error as Error).message}`,
      );
      samples.push({ at, ms: Date.now() - at, outcome });
      await sleep(20);
    }
  };
  const times = { stopped: 0, started: 0 };
  const outage = async (): Promise<void> => {
    await sleep(3000);
    pgctl('stop -m fast');
    times.stopped = Date.now();
    await sleep(DOWN_MS);
    pgctl('start');
    times.started = Date.now();
  };
  await Promise.all([...Array.from({ length: WORKERS }, worker), outage()]);

  const tally = (list: Sample[]): string => {
    const counts = new Map<string, number>();
    for (const s of list) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
    return JSON.stringify(Object.fromEntries(counts));
  };
  const down = samples.filter((s) => s.at >= times.stopped && s.at + s.ms <= times.started);
  const firstOk = samples.find((s) => s.at >= times.started && s.outcome === '200');
  const after = firstOk ? samples.filter((s) => s.at >= firstOk.at) : [];
  console.log(`PostgreSQL ${cluster} stopped (-m fast) for ${times.started - times.stopped} ms under ${WORKERS} token loops`);
  console.log(`while down: ${down.length} requests ${tally(down)}, worst latency ${Math.max(0, ...down.map((s) => s.ms))} ms`);
  console.log(`first 200 ${firstOk ? `${firstOk.at + firstOk.ms - times.started} ms after the start command returned` : 'never'}`);
  console.log(`after it: ${after.length} requests ${tally(after)}; JWKS ${(await t.send('/oauth2/keys')).status}`);
  console.log(`whole run: ${samples.length} requests ${tally(samples)}`);
} finally {
  ensureUp();
  await t.stop();
  await database.drop();
}

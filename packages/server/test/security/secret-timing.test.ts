// Timing of client authentication by secret (RFC 9700 §4): a known client id with a wrong secret
// must cost what an unknown client id costs, or the answer time tells which client ids exist.
//
// Three checks, from the cheapest to the most direct:
// - the code path: both make the hasher run one HMAC over one hash and fail with one answer;
// - the statements: both send the database the same single statement (a second query only for a
//   known client was the ~40 µs difference an outside review measured);
// - the wall clock, on a real store (a SQLite file and PostgreSQL). The authentication step is
//   timed in-process, not over HTTPS: TLS and the event loop add noise of hundreds of µs that
//   would hide a difference of ten. Samples come in pairs, known and unknown back to back, in
//   alternating order, so load from other processes hits both sides of a pair alike; the median
//   of the paired differences, with a bootstrap confidence interval, must lie within a bound set
//   as a share of the unknown-client time itself, so a busier machine, slower at both, widens it
//   alike. Measured on the 2-core development machine: the old second query made a wrong secret
//   80–130 % slower than an unknown client (SQLite ~11 µs, PostgreSQL ~110–210 µs); what is left
//   is reading the client's row once it exists, 15–22 % on SQLite (~3–4 µs) and ~7 % on
//   PostgreSQL. The bound, 45 %, sits between the two with room on both sides.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { createSecretHasher, generateClientSecret, generateSecretId } from '../../src/keys/client-secrets.ts';
import type { SecretHasher } from '../../src/keys/client-secrets.ts';
import { checkClientSecret, type SecretCheckDeps } from '../../src/oauth2/client-auth/secret.ts';
import { OAuthError } from '../../src/oauth2/errors.ts';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqlStore } from '../../src/storage/sql-store.ts';
import { countingDriver } from '../storage/conformance/harness.ts';
import { createTestDatabase } from '../storage/postgres-database.ts';
import { pairedTimingDifference, type TimingDifference } from '../helpers/timing-stats.ts';

const KNOWN = 'alpha.api';
const UNKNOWN = 'alpha.nobody';
const WRONG_SECRET = generateClientSecret();
/** Largest difference tolerated, as a share of the unknown-client time. */
const MAX_SHARE = 0.45;

function countingDeps(known: boolean): { deps: SecretCheckDeps; compared: number[] } {
  const compared: number[] = [];
  const matches = (_secret: string, hashes: readonly string[]): boolean => {
    compared.push(hashes.length);
    return false;
  };
  const hasher = { matches } as unknown as SecretHasher;
  const client = { service: { principal: 'alpha.api' }, secrets: [{ hash: 'h1' }] };
  const store = { getClientForAuth: async () => (known ? client : null) } as unknown as SecretCheckDeps['store'];
  return { deps: { store, hasher }, compared };
}

/** A migrated store holding one service with a live secret, over `driver`. */
async function storeWithClient(driver: SqlDriver, hasher: SecretHasher): Promise<SqlStore> {
  await migrate(driver);
  const store = new SqlStore(driver);
  const by = { actor: 'test' };
  await store.createDomain({ name: 'alpha' }, by);
  const secret = { id: generateSecretId(), hash: hasher.hash(generateClientSecret()) };
  await store.createService({ domain: 'alpha', name: 'api' }, { secret }, by);
  return store;
}

/** Times checkClientSecret for a known client with a wrong secret against an unknown client. */
async function measure(deps: SecretCheckDeps, pairs: number): Promise<TimingDifference> {
  const once = async (clientId: string): Promise<number> => {
    const start = performance.now();
    const attempt = checkClientSecret(deps, clientId, WRONG_SECRET, Date.now(), true);
    const failed = await attempt.then(() => false, () => true);
    const took = (performance.now() - start) * 1000;
    assert.ok(failed, `${clientId} with a wrong secret must fail`);
    return took;
  };
  // Warm-up: prepared statements, JIT, the connection pool.
  for (let i = 0; i < Math.min(pairs, 500); i++) {
    await once(KNOWN);
    await once(UNKNOWN);
  }
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      known.push(await once(KNOWN));
      unknown.push(await once(UNKNOWN));
    } else {
      unknown.push(await once(UNKNOWN));
      known.push(await once(KNOWN));
    }
  }
  return pairedTimingDifference(known, unknown);
}

function assertSameTime(backend: string, result: TimingDifference): void {
  const bound = MAX_SHARE * result.medianB;
  const figures =
    `${backend}: known ${result.medianA.toFixed(1)} µs, unknown ${result.medianB.toFixed(1)} µs, ` +
    `paired median difference ${result.median.toFixed(2)} µs ` +
    `(95 % CI ${result.low.toFixed(2)} … ${result.high.toFixed(2)}), ` +
    `bound ±${bound.toFixed(2)} µs over ${result.pairs} pairs`;
  console.log(`# ${figures}`);
  const within = result.low > -bound && result.high < bound;
  assert.ok(within, `a known client and an unknown one must take the same time; ${figures}`);
}

describe('a known client with a wrong secret costs what an unknown client costs', () => {
  it('an unknown client and a wrong secret both run exactly one comparison over one hash and fail alike', async () => {
    const results: Array<{ compared: number[]; error: unknown }> = [];
    for (const known of [true, false]) {
      const { deps, compared } = countingDeps(known);
      const attempt = checkClientSecret(deps, 'alpha.api', 'wrong', Date.now(), true);
      const error = await attempt.then(() => undefined, (e: unknown) => e);
      results.push({ compared, error });
    }
    const [wrongSecret, unknown] = results as [typeof results[0], typeof results[0]];
    assert.deepEqual(wrongSecret.compared, [1]);
    assert.deepEqual(unknown.compared, [1], 'an unknown client still pays for one HMAC');
    for (const { error } of [wrongSecret, unknown]) {
      assert.ok(error instanceof OAuthError);
      assert.equal(error.status, 401);
      assert.equal(error.error, 'invalid_client');
    }
    assert.equal((wrongSecret.error as Error).message, (unknown.error as Error).message);
  });

  const hasher = createSecretHasher(Buffer.alloc(32, 7));
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
  const sqliteStore = async (driverOf: (driver: SqlDriver) => SqlDriver = (d) => d): Promise<SqlStore> => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-timing-'));
    dirs.push(dir);
    return storeWithClient(driverOf(openSqliteDriver(join(dir, 'tessera.db'))), hasher);
  };

  it('sends the database the same single statement for a known client as for an unknown one', async () => {
    let counted: ReturnType<typeof countingDriver> | undefined;
    const store = await sqliteStore((driver) => (counted = countingDriver(driver)).driver);
    try {
      const statementsOf = async (clientId: string): Promise<string[]> => {
        counted!.statements.length = 0;
        await checkClientSecret({ store, hasher }, clientId, WRONG_SECRET, Date.now(), true).catch(() => {});
        return [...counted!.statements];
      };
      const known = await statementsOf(KNOWN);
      assert.equal(known.length, 1, `one statement for a known client, not ${known.length}`);
      assert.deepEqual(await statementsOf(UNKNOWN), known);
    } finally {
      await store.close();
    }
  });

  it('takes the same wall-clock time for a wrong secret as for an unknown client (SQLite)', async () => {
    const store = await sqliteStore();
    try {
      assertSameTime('SQLite', await measure({ store, hasher }, 6000));
    } finally {
      await store.close();
    }
  });

  it('takes the same wall-clock time for a wrong secret as for an unknown client (PostgreSQL)', async () => {
    const database = await createTestDatabase();
    const store = await storeWithClient(openPostgresDriver(database.url), hasher);
    try {
      assertSameTime('PostgreSQL', await measure({ store, hasher }, 3000));
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

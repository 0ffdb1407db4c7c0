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
import { assertSameTime, timeFailuresInPairs, type TimingDifference } from '../helpers/timing-stats.ts';

const KNOWN = 'alpha.api';
const UNKNOWN = 'alpha.nobody';
const WRONG_SECRET = generateClientSecret();
const RIGHT_SECRET = generateClientSecret();
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
  const secret = { id: generateSecretId(), hash: hasher.hash(RIGHT_SECRET) };
  await store.createService({ domain: 'alpha', name: 'api' }, { secret }, by);
  return store;
}

/** Times checkClientSecret for a known client with a wrong secret against an unknown client. */
function measure(deps: SecretCheckDeps, pairs: number): Promise<TimingDifference> {
  const attempt = (clientId: string) => () => checkClientSecret(deps, clientId, WRONG_SECRET, Date.now(), true);
  return timeFailuresInPairs(attempt(KNOWN), attempt(UNKNOWN), pairs);
}

const sameTime = (backend: string, result: TimingDifference): void =>
  assertSameTime(`${backend}: known client with a wrong secret against an unknown client`, result, MAX_SHARE);

describe('a known client with a wrong secret costs what an unknown client costs', () => {
  it('an unknown client and a wrong secret both run exactly one comparison over one hash and fail alike', async () => {
    const results: Array<{ compared: number[]; error: unknown }> = [];
    for (const known of [true, false]) {
      const { deps, compared } = countingDeps(known);
      const attempt = checkClientSecret(deps, 'alpha.api', 'wrong', Date.now(), true);
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      results.push({ compared, error });
    }
    const [wrongSecret, unknown] = results as [(typeof results)[0], (typeof results)[0]];
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

  it('sends the database the same single statement for a known client as for an unknown one, and for the right secret', async () => {
    let counted: ReturnType<typeof countingDriver> | undefined;
    const store = await sqliteStore((driver) => (counted = countingDriver(driver)).driver);
    try {
      const statementsOf = async (clientId: string, secret = WRONG_SECRET): Promise<string[]> => {
        counted!.statements.length = 0;
        await checkClientSecret({ store, hasher }, clientId, secret, Date.now(), true).catch(() => {});
        return [...counted!.statements];
      };
      const known = await statementsOf(KNOWN);
      assert.equal(known.length, 1, `one statement for a known client, not ${known.length}`);
      assert.deepEqual(await statementsOf(UNKNOWN), known);
      // The token endpoint's hot path: a successful authentication is that one statement too.
      assert.deepEqual(await statementsOf(KNOWN, RIGHT_SECRET), known);
      assert.equal((await checkClientSecret({ store, hasher }, KNOWN, RIGHT_SECRET, Date.now(), true)).principal, KNOWN);
    } finally {
      await store.close();
    }
  });

  it('takes the same wall-clock time for a wrong secret as for an unknown client (SQLite)', async () => {
    const store = await sqliteStore();
    try {
      sameTime('SQLite', await measure({ store, hasher }, 6000));
    } finally {
      await store.close();
    }
  });

  it('takes the same wall-clock time for a wrong secret as for an unknown client (PostgreSQL)', async () => {
    const database = await createTestDatabase();
    const store = await storeWithClient(openPostgresDriver(database.url), hasher);
    try {
      sameTime('PostgreSQL', await measure({ store, hasher }, 3000));
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

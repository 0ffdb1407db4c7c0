// Timing of client authentication by key (RFC 9700 §4): private_key_jwt and
// self_signed_tls_client_auth must cost for a known client id what they cost for an unknown one,
// or the answer time tells which client ids (and which key ids) exist. The siblings of
// secret-timing.test.ts, measured the same way: in-process against a real store (a SQLite file
// and PostgreSQL), known and unknown back to back in alternating order, the median of the paired
// differences with a bootstrap interval bounded by a share of the unknown-client time.
//
// What the old code did differently: for a known client a second query for its keys, and for
// private_key_jwt a signature check (ES256) that an unknown client or an unknown kid skipped. Now
// one statement reads the client and its keys whether or not it exists, and an assertion no
// registered key fits is checked against a stand-in key of its algorithm. Measured on the 2-core
// development machine (a client with one registered key): the old code made a bad signature
// 190–200 µs slower than an unknown client on SQLite and 330–370 µs on PostgreSQL, an unknown kid
// 115–120 µs on PostgreSQL, an unregistered certificate key 32–33 µs (SQLite) and 154–178 µs
// (PostgreSQL); what is left is reading the rows that exist: 6–12 µs (under 5 %) for
// private_key_jwt, and 3.5–4 µs (about 27 %) on SQLite and 14–17 µs (about 10 %) on PostgreSQL
// for the certificate, whose path is otherwise cheap. The bound, 45 %, is secret-timing's.

import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { ClientCertificates } from '../../src/mtls/index.ts';
import type { ClientAuthMethod, ClientAuthRequest } from '../../src/oauth2/client-auth/method.ts';
import { privateKeyJwt, JWT_BEARER_ASSERTION_TYPE } from '../../src/oauth2/client-auth/private_key_jwt.ts';
import { standInKey } from '../../src/oauth2/assertions/stand-in-keys.ts';
import { JWS_ALGORITHMS, jwsAlgorithmsFor } from '../../src/policy/key-types.ts';
import { selfSignedTlsClientAuth } from '../../src/oauth2/client-auth/self_signed_tls_client_auth.ts';
import { OAuthError } from '../../src/oauth2/errors.ts';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { SqlStore } from '../../src/storage/sql-store.ts';
import { makeLeaf, newKeys } from '../e2e/mtls-support.ts';
import { assertSameTime, timeFailuresInPairs } from '../helpers/timing-stats.ts';
import { countingDriver } from '../storage/conformance/harness.ts';
import { createTestDatabase } from '../storage/postgres-database.ts';

const KNOWN = 'alpha.api';
const UNKNOWN = 'alpha.nobody';
const KID = 'k1';
const AUDIENCE = 'https://tessera.test/oauth2/token';
/** Largest difference tolerated, as a share of the unknown-client time (as for secrets). */
const MAX_SHARE = 0.45;

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };
const pemOf = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

interface Fixture {
  registered: KeyPair;
  /** A key registered nowhere: the attacker's. */
  stranger: KeyPair;
  /** A self-signed certificate whose key is registered on nothing. */
  strangerCertificate: X509Certificate;
}

async function fixture(): Promise<Fixture> {
  const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await makeLeaf(null, { subject: `CN=${KNOWN}`, keys: await newKeys() });
  return { registered, stranger, strangerCertificate: new X509Certificate(leaf.certPem) };
}

/** A migrated store holding one service with one registered ES256 key (kid k1), over `driver`. */
async function storeWithClient(driver: SqlDriver, key: KeyObject): Promise<SqlStore> {
  await migrate(driver);
  const store = new SqlStore(driver);
  const by = { actor: 'test' };
  await store.createDomain({ name: 'alpha' }, by);
  await store.createService({ domain: 'alpha', name: 'api' }, { publicKeys: [{ kid: KID, pem: pemOf(key) }] }, by);
  return store;
}

function assertion(signer: KeyObject, iss: string, kid: string | undefined, jti = randomUUID()): Promise<string> {
  return new SignJWT({ jti })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(kid !== undefined && { kid }) })
    .setIssuer(iss)
    .setSubject(iss)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer);
}

const assertionRequest = (jwt: string): ClientAuthRequest => ({
  form: { client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt },
  authorization: undefined,
  now: Date.now(),
});

function keyJwt(store: SqlStore): ClientAuthMethod {
  return privateKeyJwt({ store, audiences: [AUDIENCE], clockSkew: 30 });
}

/** The method over a store, with the TLS layer stubbed to present `certificate` as already dated. */
function selfSigned(store: SqlStore, certificate: X509Certificate): ClientAuthMethod {
  const certificates = {
    presented: () => ({ leaf: certificate, chain: [], via: 'tls' }),
    checkSelfSigned: () => ({ certificate, thumbprint: 'thumbprint' }),
  } as unknown as ClientCertificates;
  return selfSignedTlsClientAuth({ certificates, store });
}

const certificateRequest = (clientId: string): ClientAuthRequest => ({
  form: { client_id: clientId },
  authorization: undefined,
  now: Date.now(),
  http: {} as NonNullable<ClientAuthRequest['http']>,
});

/** The three failures that must look alike, prepared once: none spends its jti (no signature holds). */
async function failures(keys: Fixture): Promise<Record<'badSignature' | 'unknownKid' | 'unknownClient', ClientAuthRequest>> {
  return {
    badSignature: assertionRequest(await assertion(keys.stranger.privateKey, KNOWN, KID)),
    unknownKid: assertionRequest(await assertion(keys.stranger.privateKey, KNOWN, 'no-such-kid')),
    unknownClient: assertionRequest(await assertion(keys.stranger.privateKey, UNKNOWN, KID)),
  };
}

async function refusal(attempt: Promise<unknown>): Promise<OAuthError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof OAuthError, `expected a refusal, got ${String(error)}`);
  assert.equal(error.status, 401);
  assert.equal(error.errorCode, 'AUTH_101');
  return error;
}

describe('client authentication by key costs for a known client what it costs for an unknown one', () => {
  let keys: Fixture;
  const dirs: string[] = [];
  before(async () => {
    keys = await fixture();
  });
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
  const sqliteStore = async (driverOf: (driver: SqlDriver) => SqlDriver = (d) => d): Promise<SqlStore> => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-key-timing-'));
    dirs.push(dir);
    return storeWithClient(driverOf(openSqliteDriver(join(dir, 'tessera.db'))), keys.registered.publicKey);
  };

  it('has a stand-in key for every algorithm an assertion may use', () => {
    for (const alg of JWS_ALGORITHMS) assert.ok(jwsAlgorithmsFor(standInKey(alg)).includes(alg), alg);
  });

  it('private_key_jwt sends the same single statement for a bad signature, an unknown kid and an unknown client', async () => {
    let counted: ReturnType<typeof countingDriver> | undefined;
    const store = await sqliteStore((driver) => (counted = countingDriver(driver)).driver);
    try {
      const method = keyJwt(store);
      const requests = await failures(keys);
      const statementsOf = async (request: ClientAuthRequest): Promise<string[]> => {
        counted!.statements.length = 0;
        await refusal(method.authenticate(request));
        return [...counted!.statements];
      };
      const unknown = await statementsOf(requests.unknownClient);
      assert.equal(unknown.length, 1, `one statement for an unknown client, not ${unknown.length}`);
      assert.deepEqual(await statementsOf(requests.badSignature), unknown, 'a bad signature');
      assert.deepEqual(await statementsOf(requests.unknownKid), unknown, 'an unknown kid');
      // A good assertion reads the same way, then spends its jti.
      const good = await assertion(keys.registered.privateKey, KNOWN, KID);
      counted!.statements.length = 0;
      assert.equal((await method.authenticate(assertionRequest(good))).service.principal, KNOWN);
      assert.deepEqual(counted!.statements[0], unknown[0]);
    } finally {
      await store.close();
    }
  });

  it('self_signed_tls_client_auth sends the same single statement for an unregistered key and an unknown client', async () => {
    let counted: ReturnType<typeof countingDriver> | undefined;
    const store = await sqliteStore((driver) => (counted = countingDriver(driver)).driver);
    try {
      const method = selfSigned(store, keys.strangerCertificate);
      const statementsOf = async (clientId: string): Promise<string[]> => {
        counted!.statements.length = 0;
        const error = await refusal(method.authenticate(certificateRequest(clientId)));
        return [...counted!.statements, error.message];
      };
      const unknown = await statementsOf(UNKNOWN);
      assert.equal(unknown.length, 2, `one statement for an unknown client, not ${unknown.length - 1}`);
      assert.deepEqual(await statementsOf(KNOWN), unknown, 'the same statement and the same answer');
    } finally {
      await store.close();
    }
  });

  const timings = async (backend: string, store: SqlStore, pairs: number): Promise<void> => {
    const method = keyJwt(store);
    const requests = await failures(keys);
    const attempt = (request: ClientAuthRequest) => () => method.authenticate({ ...request, now: Date.now() });
    const tls = selfSigned(store, keys.strangerCertificate);
    const presented = (clientId: string) => () => tls.authenticate(certificateRequest(clientId));
    // All three measured before any is judged, so a failure reports every figure.
    const results = [
      ['private_key_jwt, bad signature', await timeFailuresInPairs(attempt(requests.badSignature), attempt(requests.unknownClient), pairs)],
      ['private_key_jwt, unknown kid', await timeFailuresInPairs(attempt(requests.unknownKid), attempt(requests.unknownClient), pairs)],
      ['self_signed_tls_client_auth, unregistered key', await timeFailuresInPairs(presented(KNOWN), presented(UNKNOWN), pairs)],
    ] as const;
    const failed: string[] = [];
    for (const [what, result] of results) {
      try {
        assertSameTime(`${backend}: ${what} against an unknown client`, result, MAX_SHARE);
      } catch (error) {
        failed.push((error as Error).message);
      }
    }
    assert.deepEqual(failed, []);
  };

  it('takes the same wall-clock time for a bad signature, an unknown kid or an unregistered certificate key as for an unknown client (SQLite)', async () => {
    const store = await sqliteStore();
    try {
      await timings('SQLite', store, 2500);
    } finally {
      await store.close();
    }
  });

  it('takes the same wall-clock time for a bad signature, an unknown kid or an unregistered certificate key as for an unknown client (PostgreSQL)', async () => {
    const database = await createTestDatabase();
    const store = await storeWithClient(openPostgresDriver(database.url), keys.registered.publicKey);
    try {
      await timings('PostgreSQL', store, 1200);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

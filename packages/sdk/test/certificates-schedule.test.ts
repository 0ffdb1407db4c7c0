// The certificate refresher's schedule, with time driven by mock timers and a CA that lives in
// the test process: renewal at 2/3 of the lifetime within the jitter bounds, retries that back off
// (and speed up near the end), `expiring`, giving up or proving again once the certificate has
// expired, the bounded retries of the first request, and close() leaving nothing behind.

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { CaClient, IssueRequest } from '../src/certificates/ca-client.ts';
import { bitString, contextSpecific, element, integer, octetString, oid, pem, sequence, set, utf8String } from '../src/certificates/der.ts';
import {
  CertificateRefresherError,
  createCertificateRefresher,
  type CertificateRefresher,
  type CertificateRefresherEvents,
  type CertificateRefresherOptions,
  type FailedEvent,
  type RefresherTimers,
} from '../src/index.ts';
import { startRefresher } from '../src/certificates/refresher.ts';

const T0 = Date.UTC(2026, 0, 1);
const SECOND = 1000;
const HOUR = 3_600_000;
const BACKDATE = 60 * SECOND;
const PRINCIPAL = 'alpha.api';
const ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

/** One DER element: where its header starts, where its value starts and ends. */
function readElement(der: Buffer, offset: number): { offset: number; start: number; end: number } {
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  return { offset, start, end: start + length };
}

/** The public key of a PEM CSR, after checking the CSR's signature with it (as a CA would). */
function csrPublicKey(csrPem: string): KeyObject {
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const outer = readElement(der, 0);
  const info = readElement(der, outer.start);
  const version = readElement(der, info.start);
  const name = readElement(der, version.end);
  const spki = readElement(der, name.end);
  const algorithm = readElement(der, info.end);
  const signature = readElement(der, algorithm.end);
  const key = createPublicKey({ key: der.subarray(spki.offset, spki.end), format: 'der', type: 'spki' });
  const signed = verify('sha256', der.subarray(info.offset, info.end), key, der.subarray(signature.start + 1, signature.end));
  assert.ok(signed, 'the CSR signature verifies with its own key');
  return key;
}

function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString();
  return element(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`));
}

const nameOf = (cn: string): Buffer => sequence(set(sequence(oid('2.5.4.3'), utf8String(cn))));
const extension = (id: string, value: Buffer): Buffer => sequence(oid(id), element(0x01, Buffer.from([0xff])), octetString(value));

/** An X.509 v3 certificate signed with ECDSA P-256. */
function certificate(subject: string, issuer: string, key: KeyObject, signer: KeyObject, notBefore: number, notAfter: number, extensions: Buffer[]): string {
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = sequence(
    contextSpecific(0, integer(2)),
    integer(serial),
    ECDSA_SHA256,
    nameOf(issuer),
    sequence(utcTime(notBefore), utcTime(notAfter)),
    nameOf(subject),
    spki,
    contextSpecific(3, sequence(...extensions)),
  );
  return pem('CERTIFICATE', sequence(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, signer))));
}

interface FakeCa extends CaClient {
  requests: IssueRequest[];
  readonly bundlePem: string;
  lifetimeMs: number;
  /** Decides the fate of each request: an error to throw, 'hang' until close(), or nothing to issue. */
  answer: (request: IssueRequest) => CertificateRefresherError | 'hang' | undefined;
  signal: AbortSignal | undefined;
}

function fakeCa(now: () => number = Date.now): FakeCa {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const root = certificate('Fake Tessera CA', 'Fake Tessera CA', privateKey, privateKey, T0 - 365 * 24 * HOUR, T0 + 365 * 24 * HOUR, [
    extension('2.5.29.19', sequence(element(0x01, Buffer.from([0xff])))),
  ]);
  const ca: FakeCa = {
    requests: [],
    bundlePem: root,
    lifetimeMs: HOUR,
    answer: () => undefined,
    signal: undefined,
    certificatesUrl: 'https://tessera.test/ca/v1/certificates',
    bundle: async () => root,
    async issue(request) {
      ca.requests.push(request);
      const fate = ca.answer(request);
      if (fate === 'hang') {
        return new Promise((_resolve, reject) =>
          ca.signal?.addEventListener('abort', () => reject(new CertificateRefresherError('closed', { code: 'ERR_REFRESHER_CLOSED' }))),
        );
      }
      if (fate !== undefined) throw fate;
      const issuedAt = now();
      const san = extension('2.5.29.17', sequence(contextSpecific(6, Buffer.from('spiffe://tessera.local/alpha/api'), false)));
      return {
        certificate: certificate(PRINCIPAL, 'Fake Tessera CA', csrPublicKey(request.csr), privateKey, issuedAt - BACKDATE, issuedAt + ca.lifetimeMs, [san]),
        chain: root,
      };
    },
    close() {},
  };
  return ca;
}

const unavailable = (): CertificateRefresherError => new CertificateRefresherError('the CA is down', { code: 'ERR_CA_UNAVAILABLE', status: 503 });
const refused = (): CertificateRefresherError => new CertificateRefresherError('refused', { code: 'ERR_CA_REFUSED', status: 401, error: 'invalid_proof' });

/** Lets promise callbacks and thread-pool work (key generation) finish; mock timers leave setImmediate alone. */
async function until(condition: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !condition(); i++) await new Promise<void>((resolve) => setImmediate(resolve));
  assert.ok(condition(), 'the condition came true');
}

function next<E extends keyof CertificateRefresherEvents>(refresher: CertificateRefresher, event: E): Promise<CertificateRefresherEvents[E]> {
  return new Promise((resolve) => refresher.once(event, resolve));
}

describe('certificate refresher schedule', () => {
  let ca: FakeCa;
  let refresher: CertificateRefresher | undefined;
  let random: () => number;
  const start = async (options: Partial<CertificateRefresherOptions> = {}): Promise<CertificateRefresher> => {
    refresher = await startRefresher(
      { server: 'https://tessera.test', ca: ca.bundlePem, principal: PRINCIPAL, bootstrap: { joinToken: 'tsj_test' }, ...options },
      { caClient: (_settings, signal) => ((ca.signal = signal), ca), random: () => random() },
    );
    return refresher;
  };
  /** Runs the timers up to `time` (ms since the epoch). */
  const tickTo = (time: number): void => mock.timers.tick(Math.max(0, time - Date.now()));

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    ca = fakeCa();
    random = () => 0.5;
  });
  afterEach(async () => {
    await refresher?.close();
    refresher = undefined;
    mock.timers.reset();
  });

  describe('renewal time', () => {
    const lifetime = HOUR + BACKDATE;
    const cases: [string, number, number][] = [
      ['at exactly 2/3 of the lifetime with no jitter drawn', 0.5, 2 / 3],
      ['no earlier than 2/3 × 0.9 (60 %) of the lifetime', 0, 0.6],
      ['no later than 2/3 × 1.1 (73.3 %) of the lifetime', 0.999_999, (2 / 3) * 1.1],
    ];
    for (const [name, drawn, share] of cases) {
      it(`plans the renewal ${name}`, async () => {
        random = () => drawn;
        const r = await start();
        const { notBefore, notAfter, renewAt } = r.info();
        assert.equal(notAfter.getTime() - notBefore.getTime(), lifetime);
        assert.ok(Math.abs(renewAt.getTime() - (notBefore.getTime() + lifetime * share)) <= 1, `${renewAt.toISOString()} at ${share}`);
      });
    }

    it('spreads renewal times of many refreshers over the jitter window only', async () => {
      random = Math.random;
      const shares: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await start();
        const { notBefore, renewAt } = r.info();
        shares.push((renewAt.getTime() - notBefore.getTime()) / lifetime);
        await r.close();
      }
      assert.ok(
        shares.every((share) => share >= 0.6 - 1e-6 && share <= (2 / 3) * 1.1 + 1e-6),
        shares.join(' '),
      );
      assert.ok(new Set(shares.map((share) => share.toFixed(4))).size > 1, 'not all the same');
    });

    it('follows renewAt and jitter from the options', async () => {
      random = () => 0;
      const r = await start({ renewAt: 0.5, jitter: 0.2 });
      const { notBefore, renewAt } = r.info();
      assert.ok(Math.abs(renewAt.getTime() - (notBefore.getTime() + lifetime * 0.4)) <= 1);
    });

    it('renews over mTLS when the time comes and not a moment before, then plans the next renewal', async () => {
      const r = await start();
      const first = r.info();
      const held = r.current();
      tickTo(first.renewAt.getTime() - 1);
      await until(() => true, 20);
      assert.equal(ca.requests.length, 1, 'only the bootstrap request so far');
      const renewed = next(r, 'renewed');
      mock.timers.tick(1);
      const { certificate: now, previous } = await renewed;
      assert.equal(previous, first);
      assert.notEqual(now.serial, first.serial);
      assert.deepEqual(r.info(), now);
      const renewal = ca.requests[1]!;
      assert.equal(renewal.proof, undefined, 'a renewal carries no proof…');
      assert.deepEqual(renewal.tls, { cert: held.cert, key: held.key }, '…but presents the current certificate');
      assert.notEqual(r.current(), held);
      assert.ok(now.renewAt.getTime() > Date.now());
    });

    it('wakes at least hourly and reads the clock again, so a machine that slept renews on time', async () => {
      let wall = T0;
      ca = fakeCa(() => wall);
      ca.lifetimeMs = 24 * HOUR;
      const r = await start({ clock: () => wall });
      const renewAt = r.info().renewAt.getTime();
      // Suspended: the wall clock passes the renewal time while the timers stand still.
      wall = renewAt + 10 * 60_000;
      const renewed = next(r, 'renewed');
      mock.timers.tick(HOUR);
      await renewed;
      assert.equal(ca.requests.length, 2);
    });
  });

  describe('failures', () => {
    it('retries a failed renewal after 1 s, 2 s, 4 s (doubling, ±20 % jitter) and starts afresh once it succeeds', async () => {
      const r = await start();
      let failing = 3;
      ca.answer = () => (failing-- > 0 ? unavailable() : undefined);
      const waits: number[] = [];
      tickTo(r.info().renewAt.getTime() - 1);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const failed = next(r, 'failed');
        mock.timers.tick(attempt === 1 ? 1 : waits.at(-1)!);
        const event = await failed;
        assert.equal(event.attempt, attempt);
        assert.equal(event.error.code, 'ERR_CA_UNAVAILABLE');
        waits.push(event.retryAt!.getTime() - Date.now());
      }
      assert.deepEqual(waits, [1000, 2000, 4000]);
      const renewed = next(r, 'renewed');
      mock.timers.tick(4000);
      await renewed;
      assert.equal(ca.requests.length, 5);
    });

    it('keeps each retry wait within ±20 % of the doubled delay', async () => {
      const r = await start();
      ca.answer = () => unavailable();
      for (const [drawn, expected] of [
        [0, 800],
        [0.999_999, 1200],
      ] as const) {
        random = () => drawn;
        const failed = next(r, 'failed');
        await r.renew().catch(() => {});
        const event = await failed;
        const wait = event.retryAt!.getTime() - Date.now();
        assert.ok(Math.abs(wait - expected * 2 ** (event.attempt - 1)) <= 1, `${wait} for attempt ${event.attempt}`);
      }
    });

    it("waits at least as long as the CA's Retry-After", async () => {
      const r = await start();
      ca.answer = () => new CertificateRefresherError('busy', { code: 'ERR_CA_UNAVAILABLE', status: 429, retryAfter: 30 });
      const failed = next(r, 'failed');
      await assert.rejects(r.renew(), { code: 'ERR_CA_UNAVAILABLE', status: 429 });
      assert.equal((await failed).retryAt!.getTime() - Date.now(), 30_000);
    });

    it('emits expiring once, past 5/6 of the lifetime, and gives up at expiry when the join token is spent', async () => {
      const r = await start();
      const { notBefore, notAfter } = r.info();
      ca.answer = () => unavailable();
      const expiring: CertificateRefresherEvents['expiring'][] = [];
      r.on('expiring', (event) => expiring.push(event));
      const events: CertificateRefresherEvents['failed'][] = [];
      r.on('failed', (event) => events.push(event));
      tickTo(r.info().renewAt.getTime());
      while (events.at(-1)?.retryAt !== null) {
        const count = events.length;
        await until(() => events.length > count);
        const last = events.at(-1)!;
        if (last.retryAt !== null) {
          // Never a wait longer than half of what is left, so the last attempts come densely.
          const left = notAfter.getTime() - Date.now();
          if (left > 2000) assert.ok(last.retryAt.getTime() - Date.now() <= left / 2, `wait with ${left} ms left`);
          tickTo(last.retryAt.getTime());
        }
      }
      assert.equal(expiring.length, 1);
      const fiveSixths = notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 5) / 6;
      assert.ok(Date.now() >= fiveSixths);
      assert.ok(expiring[0]!.remainingMs > 0 && expiring[0]!.remainingMs <= notAfter.getTime() - fiveSixths);
      const final = events.at(-1)!;
      assert.equal(final.error.code, 'ERR_CERTIFICATE_EXPIRED');
      assert.match(final.error.message, /expired at .* join token was spent/);
      const asked = ca.requests.length;
      mock.timers.tick(48 * HOUR);
      await until(() => true, 20);
      assert.equal(ca.requests.length, asked, 'nothing more is tried');
      await assert.rejects(r.renew(), { code: 'ERR_CERTIFICATE_EXPIRED' });
    });

    it('proves again with the registered key once the certificate expired unrenewed', async () => {
      const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const r = await start({ bootstrap: { privateKey: registered.privateKey, kid: 'k1' } });
      ca.answer = (request) => (request.tls ? unavailable() : undefined);
      const notAfter = r.info().notAfter.getTime();
      let done = false;
      const renewed = next(r, 'renewed').then(() => (done = true));
      const failed: CertificateRefresherEvents['failed'][] = [];
      r.on('failed', (event) => failed.push(event));
      tickTo(r.info().renewAt.getTime());
      while (!done) {
        const count = failed.length;
        await until(() => done || failed.length > count);
        if (done) break;
        assert.notEqual(failed.at(-1)!.retryAt, null, 'a registered key can always prove again');
        tickTo(failed.at(-1)!.retryAt!.getTime());
      }
      await renewed;
      assert.ok(Date.now() >= notAfter);
      const proof = ca.requests.at(-1)!.proof!;
      assert.equal(proof.type, 'key-assertion');
      assert.deepEqual(decodeProtectedHeader(proof.value), { alg: 'ES256', kid: 'k1' });
      const claims = decodeJwt(proof.value);
      assert.equal(claims.iss, PRINCIPAL);
      assert.equal(claims.sub, PRINCIPAL);
      assert.equal(claims.aud, ca.certificatesUrl);
      assert.equal(claims.exp! - claims.iat!, 60);
      assert.ok(csrPublicKey(ca.requests.at(-1)!.csr).equals(createPublicKey(registered.privateKey)), 'the CSR carries the registered key');
    });

    it('turns to the registered key when a renewal is refused (a revoked certificate), without waiting for expiry', async () => {
      const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const r = await start({ bootstrap: { privateKey: registered.privateKey, kid: 'k1' } });
      ca.answer = (request) => (request.tls ? refused() : undefined);
      const failed = next(r, 'failed');
      await assert.rejects(r.renew(), { code: 'ERR_CA_REFUSED', status: 401, error: 'invalid_proof' });
      const renewed = next(r, 'renewed');
      tickTo((await failed).retryAt!.getTime());
      await renewed;
      assert.equal(ca.requests.at(-1)!.proof?.type, 'key-assertion');
    });

    it('keeps renewing when a listener throws', async () => {
      const r = await start();
      r.on('renewed', () => {
        throw new Error('a broken listener');
      });
      const first = await r.renew();
      const renewed = next(r, 'renewed');
      tickTo(first.renewAt.getTime());
      await renewed;
      assert.equal(ca.requests.length, 3);
    });

    it('shares one request between concurrent renew() calls', async () => {
      const r = await start();
      const [a, b] = await Promise.all([r.renew(), r.renew()]);
      assert.equal(a, b);
      assert.equal(ca.requests.length, 2);
    });
  });

  describe('the first certificate', () => {
    it('retries a CA that does not answer, up to 4 attempts in all, then fails with its error', async () => {
      ca.answer = () => unavailable();
      const started = start().then(
        () => assert.fail('start should fail'),
        (error: unknown) => error,
      );
      for (const wait of [1000, 2000, 4000]) {
        const count = ca.requests.length;
        await until(() => ca.requests.length === count + 1);
        mock.timers.tick(wait);
      }
      const error = (await started) as CertificateRefresherError;
      assert.equal(error.code, 'ERR_CA_UNAVAILABLE');
      assert.equal(ca.requests.length, 4);
    });

    it('gets its certificate when the CA answers on a later attempt', async () => {
      let failing = 1;
      ca.answer = () => (failing-- > 0 ? unavailable() : undefined);
      const started = start();
      await until(() => ca.requests.length === 1);
      mock.timers.tick(1000);
      const r = await started;
      assert.equal(r.info().principal, PRINCIPAL);
      assert.equal(ca.requests.length, 2);
    });

    it("does not retry a refused proof (a spent join token): it fails at once with the CA's error", async () => {
      ca.answer = () => refused();
      await assert.rejects(start(), (error: CertificateRefresherError) => {
        assert.equal(error.code, 'ERR_CA_REFUSED');
        assert.equal(error.status, 401);
        assert.equal(error.error, 'invalid_proof');
        return true;
      });
      assert.equal(ca.requests.length, 1);
      assert.equal(ca.requests[0]!.proof?.type, 'join-token');
      assert.equal(ca.requests[0]!.proof?.value, 'tsj_test');
    });
  });

  describe('close()', () => {
    it('stops every timer: nothing happens however long the clock runs, and renew() fails', async () => {
      const r = await start();
      await r.close();
      mock.timers.tick(7 * 24 * HOUR);
      await until(() => true, 20);
      assert.equal(ca.requests.length, 1);
      await assert.rejects(r.renew(), { code: 'ERR_REFRESHER_CLOSED' });
      assert.throws(() => r.createAgent(), { code: 'ERR_REFRESHER_CLOSED' });
    });

    it('cancels a pending retry', async () => {
      const r = await start();
      ca.answer = () => unavailable();
      await r.renew().catch(() => {});
      await r.close();
      mock.timers.tick(HOUR);
      await until(() => true, 20);
      assert.equal(ca.requests.length, 2);
    });

    it('aborts a request under way and resolves once it has ended', async () => {
      const r = await start();
      ca.answer = () => 'hang';
      const renewal = r.renew();
      await until(() => ca.requests.length === 2);
      await r.close();
      await assert.rejects(renewal, { code: 'ERR_REFRESHER_CLOSED' });
      assert.ok(ca.signal?.aborted);
    });
  });
});

/** Timers a test runs by hand on its own clock: a timer fires only when `fire()` runs it. */
function handTimers(start: number): RefresherTimers & { now: () => number; pending: () => { ms: number; at: number }[]; fire: () => void } {
  let time = start;
  let id = 0;
  const timers = new Map<number, { ms: number; at: number; callback: () => void }>();
  const earliest = (): [number, { ms: number; at: number; callback: () => void }] | undefined => [...timers].sort(([, a], [, b]) => a.at - b.at)[0];
  return {
    now: () => time,
    setTimeout(callback, ms) {
      timers.set(++id, { ms, at: time + ms, callback });
      return id;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
    pending: () => [...timers.values()].map(({ ms, at }) => ({ ms, at })),
    fire() {
      const [key, timer] = earliest() ?? assert.fail('no timer is pending');
      timers.delete(key);
      time = Math.max(time, timer.at);
      timer.callback();
    },
  };
}

describe('certificate refresher options for tools (tessera cert --watch)', () => {
  let ca: FakeCa;
  let timers: ReturnType<typeof handTimers>;
  const refreshers: CertificateRefresher[] = [];
  const dirs: string[] = [];
  const start = async (options: Partial<CertificateRefresherOptions> = {}): Promise<CertificateRefresher> => {
    const r = await createCertificateRefresher({
      server: 'https://tessera.test',
      principal: PRINCIPAL,
      bootstrap: { joinToken: 'tsj_test' },
      caClient: ca,
      timers,
      clock: timers.now,
      random: () => 0.5,
      bundleRefresh: 0,
      ...options,
    });
    refreshers.push(r);
    return r;
  };
  const scratch = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-refresher-options-'));
    dirs.push(dir);
    return dir;
  };

  beforeEach(() => {
    timers = handTimers(Date.now());
    ca = fakeCa(timers.now);
  });
  afterEach(async () => {
    for (const r of refreshers.splice(0)) await r.close();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('talks to the CA through caClient, needing no ca, and waits on the timers it is given', async () => {
    const r = await start();
    assert.equal(ca.requests.length, 1);
    assert.deepEqual(timers.pending(), [{ ms: r.info().renewAt.getTime() - timers.now(), at: r.info().renewAt.getTime() }]);
    const renewed = next(r, 'renewed');
    timers.fire();
    await renewed;
    assert.equal(ca.requests.length, 2);
    assert.ok(ca.requests[1]?.tls, 'the renewal presents the certificate');
  });

  it('keeps trying the first certificate with bootstrapAttempts: Infinity, telling listeners of each failure', async () => {
    let failures = 0;
    ca.answer = () => (++failures <= 6 ? unavailable() : undefined);
    const heard: FailedEvent[] = [];
    const startedAt = timers.now();
    const starting = start({ bootstrapAttempts: Infinity, listeners: { failed: (event) => heard.push(event) } });
    for (let n = 1; n <= 6; n++) {
      await until(() => timers.pending().length === 1);
      assert.equal(timers.pending()[0]?.ms, Math.min(1000 * 2 ** (n - 1), 300_000), `the wait after attempt ${n}`);
      timers.fire();
    }
    const r = await starting;
    assert.equal(r.info().principal, PRINCIPAL);
    assert.deepEqual(
      heard.map((event) => [event.attempt, event.error.code]),
      [1, 2, 3, 4, 5, 6].map((n) => [n, 'ERR_CA_UNAVAILABLE']),
    );
    assert.equal(heard[0]?.retryAt?.getTime(), startedAt + 1000);
  });

  it('gives up on the first certificate after the default four attempts', async () => {
    ca.answer = () => unavailable();
    const starting = start();
    for (let n = 1; n <= 3; n++) {
      await until(() => timers.pending().length === 1);
      timers.fire();
    }
    await assert.rejects(starting, { code: 'ERR_CA_UNAVAILABLE' });
    assert.equal(ca.requests.length, 4);
    assert.deepEqual(timers.pending(), []);
  });

  it('ends a start that is still retrying when its signal is aborted, leaving no timer', async () => {
    ca.answer = () => unavailable();
    const aborter = new AbortController();
    const starting = start({ bootstrapAttempts: Infinity, signal: aborter.signal });
    await until(() => timers.pending().length === 1);
    aborter.abort();
    await assert.rejects(starting, { code: 'ERR_REFRESHER_CLOSED' });
    assert.deepEqual(timers.pending(), []);
    await assert.rejects(start({ signal: AbortSignal.abort() }), { code: 'ERR_REFRESHER_CLOSED' });
  });

  it('closes when its signal is aborted after start', async () => {
    const aborter = new AbortController();
    const r = await start({ signal: aborter.signal });
    aborter.abort();
    await r.close();
    assert.deepEqual(timers.pending(), []);
    await assert.rejects(r.renew(), { code: 'ERR_REFRESHER_CLOSED' });
  });

  it('puts the key option in the first request only: a renewal with rotateKey makes a new one', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await start({ key: privateKey, rotateKey: true });
    assert.ok(csrPublicKey(ca.requests[0]!.csr).equals(publicKey));
    const renewed = next(r, 'renewed');
    timers.fire();
    await renewed;
    assert.ok(!csrPublicKey(ca.requests[1]!.csr).equals(publicKey));
    await assert.rejects(start({ key: generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey }), /key must be a P-256, P-384, Ed25519 or RSA/);
  });

  it('goes without a bootstrap when outDir holds a valid certificate, renewing at once when its time is past', async () => {
    const outDir = await scratch();
    const first = await start({ outDir });
    const serial = first.info().serial;
    await first.close();
    const again = await start({ outDir, bootstrap: undefined });
    assert.equal(again.info().serial, serial, 'the certificate in outDir');
    assert.equal(ca.requests.length, 1, 'nothing asked at start');

    // Past the renewal point: renewed at once, with no timer in between.
    await again.close();
    ca.requests.length = 0;
    timers = handTimers(first.info().renewAt.getTime() + 1);
    const renewed = new Promise((resolve) => void start({ outDir, bootstrap: undefined, listeners: { renewed: resolve } }));
    await renewed;
    assert.equal(ca.requests.length, 1);
    assert.ok(ca.requests[0]?.tls, 'a renewal over mTLS');
  });

  it('fails to start without a bootstrap when outDir holds nothing usable, and needs outDir to go without one', async () => {
    await assert.rejects(start({ outDir: await scratch(), bootstrap: undefined }), {
      code: 'ERR_PROOF_UNAVAILABLE',
      message: /holds no valid certificate for alpha\.api, and no bootstrap was given/,
    });
    await assert.rejects(start({ bootstrap: undefined }), /bootstrap is required/);
    assert.equal(ca.requests.length, 0);
  });
});

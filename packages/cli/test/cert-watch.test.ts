// `tessera cert --watch` with a clock and timers the test moves by hand: renewal at 2/3 of the
// lifetime within the jitter bounds, backoff on failure, a restart that does not spend the
// proof again, the fallback once a certificate expired, and a clean stop on SIGINT/SIGTERM.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { DEFAULT_POLICY, renewalTime as sdkRenewalTime } from '../../sdk/src/certificates/schedule.ts';
import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeCa } from './helpers/fake-ca.ts';
import type { FakeCa } from './helpers/fake-ca.ts';
import { fakeClock } from './helpers/fake-clock.ts';
import type { FakeClock, PendingTimer } from './helpers/fake-clock.ts';

const HOUR = 3_600_000;
/** Where the SDK's refresher, which the command runs, plans a renewal (its schedule is tested in the SDK). */
const renewalTime = (notBefore: number, notAfter: number, random: number): number => sdkRenewalTime(notBefore, notAfter, DEFAULT_POLICY, random);

describe('tessera cert --watch', () => {
  // Near the real time: the TLS handshake checks the client certificate against the real clock.
  const START = Math.floor(Date.now() / 1000) * 1000;
  let ca: FakeCa;
  let cwd: string;
  let clock: FakeClock;
  let random: number;
  let n = 0;
  let out: string;

  before(async () => {
    ca = await startFakeCa();
    cwd = await makeWorkspace();
    await writeFile(path.join(cwd, 'tessera-ca.pem'), ca.root);
  });
  after(async () => {
    await ca.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    clock = fakeClock(START);
    ca.clock = clock.now;
    ca.lifetimeSeconds = 3600;
    ca.requests.length = 0;
    ca.scripted.length = 0;
    random = 0.5;
    out = `watch${n++}`;
  });

  interface Watching {
    done: Promise<CliResult>;
    /** The next timer, failing the test if the command ends first. */
    nextTimer(): Promise<PendingTimer>;
  }

  function watch(...argv: string[]): Watching {
    const done = runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', '--out-dir', out, '--watch', ...argv], {
      cwd,
      now: clock.now,
      timers: clock.timers,
      signals: clock.signals,
      random: () => random,
    });
    return {
      done,
      nextTimer: () =>
        Promise.race([
          clock.nextTimer(),
          done.then((result) => {
            throw new Error(`the command ended (exit ${result.code}) instead of waiting: ${result.stderr}`);
          }),
        ]),
    };
  }

  async function stop(watching: Watching, signal: 'SIGINT' | 'SIGTERM' = 'SIGTERM'): Promise<CliResult> {
    clock.signals.send(signal);
    const result = await watching.done;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(clock.pending(), [], 'no timer left');
    assert.equal(clock.signals.listenerCount(), 0, 'no signal listener left');
    return result;
  }

  const leaf = async (): Promise<X509Certificate> => new X509Certificate(await readFile(path.join(cwd, out, 'cert.pem'), 'utf8'));

  it('gets the first certificate with the proof, then renews over mTLS at 2/3 of each lifetime', async () => {
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    const first = await watching.nextTimer();
    const issued = await leaf();
    // The fake CA backdates notBefore by a minute, as Tessera does.
    const expectedAt = renewalTime(issued.validFromDate.getTime(), issued.validToDate.getTime(), 0.5);
    assert.equal(first.at, expectedAt);
    assert.equal(first.ms, expectedAt - START);
    assert.equal(ca.certificateRequests().length, 1);

    clock.fire();
    const second = await watching.nextTimer();
    const renewal = ca.certificateRequests()[1];
    assert.equal(renewal?.client?.cn, 'alpha.api');
    assert.equal(renewal?.client?.authorized, true);
    assert.equal((renewal?.body as Record<string, unknown>).proof, undefined, 'renewal carries no proof');
    const renewed = await leaf();
    assert.notEqual(renewed.serialNumber, issued.serialNumber);
    assert.equal(second.at, renewalTime(renewed.validFromDate.getTime(), renewed.validToDate.getTime(), 0.5));

    const result = await stop(watching);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, 'one line per certificate');
    assert.match(
      lines[0] ?? '',
      new RegExp(
        `^${new Date(START).toISOString().replaceAll('.', '\\.')} issued certificate for alpha\\.api: serial [0-9a-f]+, valid until .*; next renewal around ${new Date(first.at).toISOString()}$`,
      ),
    );
    assert.match(lines[1] ?? '', /^\S+ renewed certificate for alpha\.api: serial [0-9a-f]+, valid until /);
    assert.match(result.stderr, /SIGTERM: stopped watching watch\d+\/cert\.pem\n$/);
  });

  it('keeps each renewal within the jitter bounds', async () => {
    for (const [value, share] of [
      [0, 0.6],
      [0.999999, (2 / 3) * 1.1],
    ] as const) {
      random = value;
      const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
      const timer = await watching.nextTimer();
      const issued = await leaf();
      const lifetime = issued.validToDate.getTime() - issued.validFromDate.getTime();
      assert.ok(Math.abs(timer.at - (issued.validFromDate.getTime() + share * lifetime)) <= 1, `random ${value}`);
      await stop(watching);
      out = `watch${n++}`;
    }
  });

  it('--json prints one compact line per certificate with renewAt', async () => {
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt', '--json');
    const timer = await watching.nextTimer();
    const result = await stop(watching, 'SIGINT');
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(line.principal, 'alpha.api');
    assert.equal(line.renewAt, new Date(timer.at).toISOString());
    assert.equal(line.serial, (await leaf()).serialNumber.toLowerCase());
    assert.match(result.stderr, /SIGINT: stopped watching/);
  });

  it('retries a failed renewal with backoff and logs each failure on one line', async () => {
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    await watching.nextTimer();
    ca.scripted.push(
      { status: 503, body: { error: 'unavailable', message: 'storage unreachable' } },
      { status: 503, body: { error: 'unavailable', message: 'storage unreachable' } },
    );
    clock.fire();
    assert.equal((await watching.nextTimer()).ms, 1000);
    clock.fire();
    assert.equal((await watching.nextTimer()).ms, 2000);
    clock.fire();
    const next = await watching.nextTimer();
    assert.ok(next.ms > 10 * 60_000, 'back to the renewal schedule');
    const result = await stop(watching);
    const failures = result.stderr.split('\n').filter((line) => line.includes('failed'));
    assert.equal(failures.length, 2);
    assert.match(
      failures[0] ?? '',
      /^\S+Z renewal failed \(attempt 1\): certificate request to \S+: HTTP 503 unavailable: storage unreachable; retrying in 1s$/,
    );
    assert.match(failures[1] ?? '', /renewal failed \(attempt 2\): .*; retrying in 2s$/);
    assert.equal(result.stdout.trimEnd().split('\n').length, 2);
  });

  it('starts from a valid certificate already in --out-dir instead of spending the join token again', async () => {
    const first = await runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', '--out-dir', out, '--principal', 'alpha.api', '--join-token', 'jt'], {
      cwd,
      now: clock.now,
    });
    assert.equal(first.code, 0, first.stderr);
    ca.requests.length = 0;
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    await watching.nextTimer();
    assert.equal(ca.requests.length, 0, 'nothing sent at start');
    const result = await stop(watching);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^\S+ watching the certificate for alpha\.api in watch\d+: serial [0-9a-f]+, valid until \S+; next renewal around \S+\n/);
  });

  it('ignores a certificate in --out-dir for another principal and gets a new one', async () => {
    await runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', '--out-dir', out, '--principal', 'alpha.other', '--join-token', 'jt'], {
      cwd,
      now: clock.now,
    });
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    await watching.nextTimer();
    assert.equal((await leaf()).subject, 'CN=alpha.api');
    const result = await stop(watching);
    assert.match(result.stderr, /ignoring watch\d+\/cert\.pem: it is for alpha\.other, not alpha\.api/);
  });

  it('renews at once when the current certificate is already past its renewal time (--renew --watch)', async () => {
    await runCli(['cert', '--server', ca.url, '--cacert', 'tessera-ca.pem', '--out-dir', out, '--principal', 'alpha.api', '--join-token', 'jt'], {
      cwd,
      now: clock.now,
    });
    clock.advance(50 * 60_000);
    ca.requests.length = 0;
    const watching = watch('--renew');
    await watching.nextTimer();
    assert.equal(ca.certificateRequests().length, 1);
    assert.equal(ca.certificateRequests()[0]?.client?.cn, 'alpha.api');
    await stop(watching);
  });

  it('exits 1 without a timer when the join token is refused: it would be refused again', async () => {
    ca.scripted.push({ status: 401, body: { error: 'unauthorized', message: 'join token unknown, used or expired' } });
    const result = await watch('--principal', 'alpha.api', '--join-token', 'spent').done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: certificate request to \S+: HTTP 401 unauthorized: join token unknown, used or expired\n$/);
    assert.deepEqual(clock.pending(), []);
    assert.equal(clock.signals.listenerCount(), 0);
  });

  it('retries the first request while the server is unavailable', async () => {
    ca.scripted.push({ status: 502, body: { error: 'bad_gateway', message: 'upstream starting' } });
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    assert.equal((await watching.nextTimer()).ms, 1000);
    clock.fire();
    await watching.nextTimer();
    assert.equal((await leaf()).subject, 'CN=alpha.api');
    const result = await stop(watching);
    assert.match(result.stderr, /certificate request failed \(attempt 1\): .*HTTP 502/);
  });

  it('exits 1 once the certificate expired and a join token cannot prove the identity again', async () => {
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt');
    await watching.nextTimer();
    clock.advance(2 * HOUR);
    clock.fire();
    const result = await watching.done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error: watch\d+\/cert\.pem expired at \S+; renewal needs an unexpired certificate: get a new one with/);
    assert.deepEqual(clock.pending(), []);
    assert.equal(clock.signals.listenerCount(), 0);
  });

  it('falls back to a repeatable proof (an OIDC token file) once the certificate expired', async () => {
    await writeFile(path.join(cwd, 'sa.token'), 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
    const watching = watch('--principal', 'alpha.api', '--oidc-token-file', 'sa.token');
    await watching.nextTimer();
    clock.advance(2 * HOUR);
    clock.fire();
    await watching.nextTimer();
    const [, again] = ca.certificateRequests();
    assert.equal((again?.body as { proof?: { type: string } }).proof?.type, 'oidc-token');
    assert.equal(ca.certificateRequests().length, 2);
    await stop(watching);
  });

  it('proves again with a repeatable proof after the server refused a renewal (the SDK refresher)', async () => {
    await writeFile(path.join(cwd, 'sa.token'), 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
    const watching = watch('--principal', 'alpha.api', '--oidc-token-file', 'sa.token');
    await watching.nextTimer();
    ca.scripted.push({ status: 403, body: { error: 'forbidden', message: 'certificate revoked' } });
    clock.fire();
    assert.equal((await watching.nextTimer()).ms, 1000);
    clock.fire();
    await watching.nextTimer();
    const [, refused, proven] = ca.certificateRequests();
    assert.equal((refused?.body as { proof?: unknown }).proof, undefined, 'the renewal');
    assert.equal((proven?.body as { proof?: { type: string } }).proof?.type, 'oidc-token');
    const result = await stop(watching);
    assert.match(result.stderr, /renewal failed \(attempt 1\): certificate request to \S+: HTTP 403 forbidden: certificate revoked; retrying in 1s/);
  });

  it('--rotate-key makes a new key at each renewal', async () => {
    const watching = watch('--principal', 'alpha.api', '--join-token', 'jt', '--rotate-key', '--key-type', 'ed25519');
    await watching.nextTimer();
    const firstKey = await readFile(path.join(cwd, out, 'key.pem'), 'utf8');
    clock.fire();
    await watching.nextTimer();
    const secondKey = await readFile(path.join(cwd, out, 'key.pem'), 'utf8');
    assert.notEqual(secondKey, firstKey);
    assert.equal((await leaf()).publicKey.asymmetricKeyType, 'ed25519');
    await stop(watching);
  });
});

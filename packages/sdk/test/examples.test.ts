// The runnable examples (examples/README.md) against a real Tessera, as child processes the way a
// reader runs them: `node --conditions=tessera-source`, importing '@tessera/sdk' by name. The
// callee (beta.store) gets its certificate with a join token; the caller calls it once with each
// kind of credential; a caller without `beta:role.readers` is refused by the callee (403,
// AUTH_102), one without any role in beta by Tessera itself.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CALLEE = join(ROOT, 'examples', 'callee', 'server.ts');
const CALLER = join(ROOT, 'examples', 'caller', 'client.ts');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = promisify(execFile);

/** What the caller prints: the callee's answer, or why no token could be had. */
interface CallerReport {
  credential: string;
  principal: string;
  status?: number;
  body?: Record<string, unknown>;
  failed?: { code: string; status?: number; error?: string; message: string };
}

describe('examples: a caller and a callee with each kind of credential', () => {
  let t: TestServer;
  let dir: string;
  let callee: ChildProcessWithoutNullStreams;
  let calleeUrl: string;
  let calleeLog = '';
  const secrets = new Map<string, string>();
  const keyFiles = new Map<string, string>();
  const baseEnv = (): Record<string, string> => ({ ...process.env, TESSERA: t.url, TESSERA_CA: join(dir, 'ca.pem') }) as Record<string, string>;

  const joinToken = async (principal: string): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };

  /** Registers a service with a secret and a key `k1`, written to a file the caller reads. */
  const register = async (domain: string, name: string): Promise<void> => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const created = await t.admin$('POST', `/domains/${domain}/services`, {
      name,
      secret: true,
      publicKeys: [{ kid: 'k1', pem: publicKey.export({ type: 'spki', format: 'pem' }) }],
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(typeof created.json.clientSecret, 'string');
    secrets.set(`${domain}.${name}`, created.json.clientSecret as string);
    const file = join(dir, `${domain}.${name}.key`);
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    keyFiles.set(`${domain}.${name}`, file);
  };

  const credentialEnv = async (kind: string, principal: string): Promise<Record<string, string>> => {
    if (kind === 'secret') return { CLIENT_ID: principal, CLIENT_SECRET: secrets.get(principal)! };
    if (kind === 'private key') return { CLIENT_ID: principal, PRIVATE_KEY_FILE: keyFiles.get(principal)!, KID: 'k1' };
    return { CLIENT_ID: principal, JOIN_TOKEN: await joinToken(principal) };
  };

  const runCaller = async (env: Record<string, string>): Promise<{ code: number; report: CallerReport }> => {
    const child = spawn(process.execPath, ['--conditions=tessera-source', CALLER], {
      cwd: ROOT,
      env: { ...baseEnv(), CALLEE_URL: `${calleeUrl}/hello`, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    assert.equal(signal, null, `the caller exits by itself after its call; stderr: ${stderr}`);
    assert.equal(stderr, '', 'the caller prints no warning');
    return { code: code ?? -1, report: JSON.parse(stdout.trim()) as CallerReport };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-examples-'));
    t = await startTestServer();
    await writeFile(join(dir, 'ca.pem'), t.ca);
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'store' })).status, 201);
    for (const name of ['api', 'intruder', 'nobody']) await register('alpha', name);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/writers', { members: [{ principal: 'alpha.intruder' }] })).status, 201);

    callee = spawn(process.execPath, ['--conditions=tessera-source', CALLEE], {
      cwd: ROOT,
      env: { ...baseEnv(), JOIN_TOKEN: await joinToken('beta.store'), PORT: '0' },
    });
    callee.stderr.on('data', (chunk: Buffer) => (calleeLog += chunk.toString()));
    calleeUrl = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      callee.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on (https:\/\/127\.0\.0\.1:\d+) as spiffe:\/\/tessera\.local\/beta\/store/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      callee.once('exit', (code) => reject(new Error(`the callee exited (${code}) before listening: ${calleeLog}`)));
    });
  });
  after(async () => {
    if (callee.exitCode === null) {
      const exited = once(callee, 'exit');
      callee.kill('SIGTERM');
      const timer = setTimeout(() => callee.kill('SIGKILL'), 10_000);
      const [, signal] = (await exited) as [number | null, string | null];
      clearTimeout(timer);
      assert.equal(signal, null, 'the callee stops by itself on SIGTERM');
    }
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['secret', 'private key', 'certificate']) {
    it(`lets alpha.api call beta.store with a ${kind}`, async () => {
      const { code, report } = await runCaller(await credentialEnv(kind, 'alpha.api'));
      assert.equal(code, 0, JSON.stringify(report));
      assert.equal(report.credential, kind);
      assert.equal(report.status, 200, JSON.stringify(report));
      assert.deepEqual(report.body, {
        message: 'hello, alpha.api',
        caller: 'alpha.api',
        roles: ['readers'],
        // Only the certificate's token is bound, and the callee checked it against the TLS certificate.
        certificateBound: kind === 'certificate',
      });
    });

    it(`refuses alpha.intruder (writers only) with a ${kind}: 403 insufficient_scope, AUTH_102`, async () => {
      const { code, report } = await runCaller(await credentialEnv(kind, 'alpha.intruder'));
      assert.equal(code, 1);
      assert.equal(report.status, 403, JSON.stringify(report));
      assert.equal(report.body?.['error'], 'insufficient_scope');
      assert.equal(report.body?.['error_code'], 'AUTH_102');
      assert.match(String(report.body?.['error_description']), /beta:role\.readers/);
    });
  }

  it("reports Tessera's refusal for a caller holding no role in beta (403 access_denied), without calling", async () => {
    const { code, report } = await runCaller(await credentialEnv('secret', 'alpha.nobody'));
    assert.equal(code, 1);
    assert.equal(report.status, undefined);
    assert.equal(report.failed?.code, 'ERR_TOKEN_REJECTED');
    assert.equal(report.failed?.status, 403);
    assert.equal(report.failed?.error, 'access_denied');
  });

  it("refuses the callee's identity check when CALLEE_ID names another service", async () => {
    const env = { ...(await credentialEnv('secret', 'alpha.api')), CALLEE_ID: 'spiffe://tessera.local/beta/other' };
    const { code, report } = await runCaller(env);
    assert.equal(code, 1);
    assert.match(report.failed?.message ?? '', /the callee presented spiffe:\/\/tessera\.local\/beta\/store, not spiffe:\/\/tessera\.local\/beta\/other/);
  });

  it('typechecks (the repository typecheck covers packages/ only)', async () => {
    await run(process.execPath, [TSC, '--noEmit', '-p', join(ROOT, 'examples', 'tsconfig.json')], { cwd: ROOT });
  });
});

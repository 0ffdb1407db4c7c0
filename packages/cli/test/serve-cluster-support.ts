// `tessera serve --workers N` as a real process for the cluster tests: start it, read its log
// lines, reach it from a chosen loopback address (the primary sends each address to one worker),
// find its workers, and stop it.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import type { TestServer } from '@tessera/testkit/server';
import { tokenRequest } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { sendMtls, type MtlsRequest } from '../../server/test/e2e/mtls-support.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

export interface Cluster {
  child: ChildProcess;
  url: string;
  ca: string;
  dataDir: string;
  admin: { clientId: string; clientSecret: string };
  /** The source address of every token request answered 200 through from() or token(), oldest first. */
  issued: string[];
  /** Every stdout line so far, parsed (the primary's and the workers' JSON lines). */
  lines(): Record<string, unknown>[];
  /** The server as seen from `address`: what the shared test helpers (mtls-support.ts) take. */
  from(address: string): TestServer;
  /** The worker that serves `address` (from its own /metrics). */
  workerOf(address: string): Promise<number>;
  token(address: string, clientId: string, secret: string, scope?: string): Promise<TestResponse>;
  /** Verifies a token against the JWKS served to `address`. */
  verify(token: string, address: string): Promise<JWTPayload>;
  workerPids(): Promise<number[]>;
  /** SIGTERM to the primary, or `group` SIGINT to the whole process group (Ctrl-C); resolves to the exit code. */
  stop(how?: 'SIGTERM' | 'group SIGINT'): Promise<number | null>;
}

export async function startCluster(options: { dataDir: string; args?: string[]; env?: Record<string, string> }): Promise<Cluster> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--data-dir', options.dataDir, '--listen', `https://127.0.0.1:${port}`, '--log-level', 'info', ...(options.args ?? [])],
    // Its own process group, so that a test can send SIGINT to all of it, as Ctrl-C in a terminal does.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env }, detached: true },
  );
  const parsed: Record<string, unknown>[] = [];
  const issued: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) parsed.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;

  const started = Date.now();
  while (!parsed.some(isServing)) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() - started > 60_000) throw new Error(`tessera serve did not start within 60 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = parsed.find(isServing)!['url'] as string;
  const ca = await readFile(join(options.dataDir, 'ca.pem'), 'utf8');
  const admin = JSON.parse(await readFile(join(options.dataDir, 'bootstrap-admin.json'), 'utf8')) as Cluster['admin'];

  const from = (address: string): TestServer => {
    const send = async (path: string, request: MtlsRequest = {}): Promise<TestResponse> => {
      const res = await sendMtls(view as unknown as TestServer, path, { localAddress: address, ...request });
      if (path === '/oauth2/token' && res.status === 200) issued.push(address);
      return res;
    };
    const token = (clientId: string, secret: string, params: Record<string, string>): Promise<TestResponse> =>
      send('/oauth2/token', tokenRequest(clientId, secret, params));
    const adminToken = async (): Promise<string> => {
      const res = await token(admin.clientId, admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    };
    const view = {
      url,
      ca,
      dataDir: options.dataDir,
      send,
      token,
      adminToken,
      async admin$(method: string, path: string, body?: unknown, bearer?: string) {
        const headers: Record<string, string> = { authorization: `Bearer ${bearer ?? (await adminToken())}` };
        if (body !== undefined) headers['content-type'] = 'application/json';
        return send(`/admin/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      },
    };
    return view as unknown as TestServer;
  };

  return {
    child,
    url,
    ca,
    dataDir: options.dataDir,
    admin,
    lines: () => parsed,
    issued,
    from,
    async workerOf(address) {
      const res = await from(address).send('/metrics');
      assert.equal(res.status, 200, res.text);
      const match = /^tessera_worker\{worker="(\d+)"\} 1$/m.exec(res.text);
      assert.ok(match, 'a worker names itself in /metrics');
      return Number(match[1]);
    },
    token: (address, clientId, secret, scope) =>
      from(address).token(clientId, secret, { grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) }),
    async verify(token, address) {
      const jwks = await from(address).send('/.well-known/jwks.json');
      assert.equal(jwks.status, 200, jwks.text);
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks.json), { issuer: url });
      return payload;
    },
    workerPids: () => childrenOf(child.pid!),
    async stop(how = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      if (how === 'SIGTERM') child.kill('SIGTERM');
      else process.kill(-child.pid!, 'SIGINT');
      const [code] = await exited;
      return code;
    },
  };
}

function isServing(line: Record<string, unknown>): boolean {
  return typeof line['msg'] === 'string' && line['msg'].startsWith('tessera is serving');
}

export function childrenOf(pid: number): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'pid=', '--ppid', String(pid)], (_error, stdout) => {
      resolve(
        stdout
          .split('\n')
          .map((line) => Number(line.trim()))
          .filter((value) => value > 0),
      );
    });
  });
}

/** Loopback addresses whose connections go to worker 0 and to worker 1 (there are plenty of each among 127.0.0.2–40). */
export async function addressesByWorker(cluster: Cluster): Promise<Map<number, string[]>> {
  const byWorker = new Map<number, string[]>();
  for (let last = 2; last <= 40; last += 1) {
    const address = `127.0.0.${last}`;
    const worker = await cluster.workerOf(address);
    byWorker.set(worker, [...(byWorker.get(worker) ?? []), address]);
    if ((byWorker.get(0)?.length ?? 0) >= 3 && (byWorker.get(1)?.length ?? 0) >= 3) break;
  }
  return byWorker;
}

/** Through the admin API of `view`: a domain, a service in it and a role it holds; returns the service's secret. */
export async function serviceWithRole(view: TestServer, principal: string, role: string): Promise<string> {
  const [domain, name] = principal.split('.') as [string, string];
  assert.equal((await view.admin$('POST', '/domains', { name: domain })).status, 201);
  const service = await view.admin$('POST', `/domains/${domain}/services`, { name });
  assert.equal(service.status, 201, service.text);
  assert.equal((await view.admin$('PUT', `/domains/${domain}/roles/${role}`, { members: [{ principal }] })).status, 201);
  return service.json.clientSecret as string;
}

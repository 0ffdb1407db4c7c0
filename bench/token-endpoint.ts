// Token endpoint throughput on loopback: one Tessera process (embedded SQLite, plain HTTP so
// the figure is the token work, not TLS), autocannon driving keep-alive connections for a
// bounded time. Prints tokens/s and latency percentiles.
//
//   npm run bench                 # 10 s, 32 connections
//   npm run bench -- --seconds 5 --connections 64
//   npm run bench -- --cpu-prof /tmp/prof   # writes a .cpuprofile of the server process

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { freePort } from '../packages/server/test/helpers/server.ts';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const seconds = Math.min(Number(args.get('seconds') ?? 10), 60);
const connections = Number(args.get('connections') ?? 32);

const port = await freePort();
const profile = args.has('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${args.get('cpu-prof')}`] : [];
const child = spawn(process.execPath, [...profile, join(import.meta.dirname, 'serve-for-bench.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
const { url, dataDir } = JSON.parse(first) as { url: string; dataDir: string };

try {
  const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
  const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const tokenRes = await fetch(`${url}/oauth2/token`, { method: 'POST', headers: { ...form, authorization: basic(admin.clientId, admin.clientSecret) }, body: 'grant_type=client_credentials&scope=sys.auth:role.admin' });
  const adminToken = ((await tokenRes.json()) as { access_token: string }).access_token;
  const adminCall = async (method: string, path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await adminCall('POST', '/domains', { name: 'alpha' });
  await adminCall('POST', '/domains', { name: 'beta' });
  const service = await adminCall('POST', '/domains/alpha/services', { name: 'api', allowedIps: ['127.0.0.0/8'] });
  for (const role of ['readers', 'writers']) await adminCall('PUT', `/domains/beta/roles/${role}`, { members: [{ principal: 'alpha.api' }] });

  const result = await autocannon({
    url: `${url}/oauth2/token`,
    method: 'POST',
    headers: { ...form, authorization: basic('alpha.api', service['clientSecret'] as string) },
    body: 'grant_type=client_credentials&scope=beta%3Adomain',
    connections,
    duration: seconds,
  });
  const ok = result['2xx'];
  const failed = result.non2xx + result.errors + result.timeouts;
  const row = {
    date: new Date().toISOString(),
    node: process.version,
    seconds,
    connections,
    tokensPerSecond: Math.round(ok / seconds),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    failed,
  };
  console.log(JSON.stringify(row));
  if (failed > 0) process.exitCode = 1;
} finally {
  child.kill('SIGTERM');
}

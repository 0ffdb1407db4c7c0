// Which of Tessera's guards really ran during its rows. The benchmark claims "audit, rate
// limits, IP checks and role resolution on"; these probes check it against the build under
// test instead of trusting the settings, and the report prints what they found.

import { join } from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fetchToken } from './verify.ts';
import { basic, CLIENT_ID, tesseraEnv, type LaunchContext, type Launched } from './subjects.ts';
import { freePort, waitUntilReady } from './processes.ts';

export interface Probe {
  on: boolean;
  /** What was seen, in a sentence. */
  evidence: string;
}

/** A service fenced to 10.0.0.0/8 asks from 127.0.0.1: refused with AUTH_104 when IP checks run. */
export async function probeIpCheck(subject: Launched): Promise<Probe> {
  const admin = subject.admin!;
  const created = await admin('POST', '/domains/alpha/services', { name: 'fenced', allowedIps: ['10.0.0.0/8'] });
  if (created.status !== 201) return { on: false, evidence: `could not create the fenced service: ${created.status}` };
  const res = await fetch(subject.request.url, {
    method: 'POST',
    headers: { ...subject.request.headers, authorization: basic('alpha.fenced', created.json['clientSecret'] as string) },
    body: subject.request.body,
  });
  const body = (await res.json()) as Record<string, unknown>;
  const on = res.status === 403 && body['error_code'] === 'AUTH_104';
  return { on, evidence: `a client fenced to 10.0.0.0/8 asking from 127.0.0.1 got ${res.status} ${String(body['error_code'] ?? body['error'] ?? '')}`.trim() };
}

/** Two identical requests in a row: the same token twice when reuse is on. */
export async function probeTokenReuse(subject: Launched): Promise<Probe> {
  const first = await fetchToken(subject.request);
  const second = await fetchToken(subject.request);
  return first === second
    ? { on: true, evidence: 'two identical requests got the same token' }
    : { on: false, evidence: 'two identical requests got two different tokens' };
}

/** Token requests leave audit events (written in batches off the hot path, hence the wait). */
export async function probeAudit(subject: Launched): Promise<Probe> {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { status, json } = await subject.admin!('GET', `/audit?principal=${encodeURIComponent(CLIENT_ID)}&limit=50`);
  if (status !== 200) return { on: false, evidence: `GET /admin/v1/audit answered ${status}` };
  const types = [...new Set(((json['events'] ?? []) as { type: string }[]).map((event) => event.type))];
  const tokenTypes = types.filter((type) => type.startsWith('token'));
  return tokenTypes.length > 0
    ? { on: true, evidence: `audit events of type ${tokenTypes.join(', ')} for ${CLIENT_ID}` }
    : { on: false, evidence: `no token audit events for ${CLIENT_ID} (types seen: ${types.join(', ') || 'none'})` };
}

/**
 * Rate limits are set too high to refuse the benchmark, so whether the buckets exist is checked
 * on a separate small Tessera whose per-client limit is 1/s with a burst of 2: the third quick
 * request must be refused with 429 AUTH_106.
 */
export async function probeRateLimits(context: LaunchContext): Promise<Probe> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-probe-'));
  const forget = context.children.leaveBehind(() => rm(dataDir, { recursive: true, force: true }));
  const env = tesseraEnv({ TESSERA_RATE_LIMIT_CLIENT: '1', TESSERA_RATE_LIMIT_CLIENT_BURST: '2' });
  const child = context.children.spawn(join(import.meta.dirname, '..', 'servers', 'tessera.ts'), [JSON.stringify({ port, processes: 1, dataDir })], { env });
  try {
    await waitUntilReady(child, context.startTimeoutMs);
    const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
    const statuses: number[] = [];
    let code = '';
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(`http://127.0.0.1:${port}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(admin.clientId, admin.clientSecret) },
        body: 'grant_type=client_credentials&scope=sys.auth%3Arole.admin',
      });
      statuses.push(res.status);
      code = String(((await res.json()) as Record<string, unknown>)['error_code'] ?? '');
    }
    const on = statuses[2] === 429 && code === 'AUTH_106';
    return { on, evidence: `three quick requests under a 1/s, burst-2 client limit got ${statuses.join(', ')}${code ? ` (${code})` : ''}` };
  } finally {
    forget();
    await context.children.stop(child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

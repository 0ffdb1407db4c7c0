// Shared pieces of the property-based fuzz tests: the run count and the properties every HTTP
// target must keep (no 5xx, bounded heap, stored data untouched by refused requests).

import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import type { TestResponse } from '@tessera/testkit/https';
import { createTestDatabase } from '../storage/postgres-database.ts';

/** Runs per target: small by default so `npm test` stays fast; `npm run fuzz` sets it high. */
export function fuzzRuns(fallback = 200): number {
  const raw = process.env['TESSERA_FUZZ_RUNS'];
  const runs = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`TESSERA_FUZZ_RUNS must be a positive integer, not "${raw}"`);
  return runs;
}

/** Plain HTTP: TLS handshakes would dominate the time and are not what is being fuzzed. */
export async function startFuzzServer(backend: 'sqlite' | 'postgres' = 'sqlite'): Promise<TestServer> {
  const port = await freePort();
  const listen = `http://127.0.0.1:${port}`;
  if (backend === 'sqlite') return startTestServer({ flags: { listen } });
  const database = await createTestDatabase();
  const t = await startTestServer({ flags: { listen, database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 5).toString('base64') } });
  const stop = t.stop.bind(t);
  t.stop = async (options) => {
    await stop(options);
    await database.drop();
  };
  return t;
}

export function assertNot5xx(res: TestResponse, input: unknown): void {
  assert.ok(res.status >= 200 && res.status < 500, `got ${res.status} ${res.text.slice(0, 300)} for input ${JSON.stringify(input).slice(0, 2000)}`);
}

/** The admin API's view of domains, services and roles, for before/after comparison. */
export async function snapshot(t: TestServer, token: string): Promise<unknown> {
  const domains = await t.admin$('GET', '/domains', undefined, token);
  assert.equal(domains.status, 200, domains.text);
  const view: Record<string, unknown> = { domains: domains.json };
  for (const name of listNames(domains.json)) {
    const path = `/domains/${encodeURIComponent(name)}`;
    view[`${name}/services`] = (await t.admin$('GET', `${path}/services`, undefined, token)).json;
    view[`${name}/roles`] = (await t.admin$('GET', `${path}/roles`, undefined, token)).json;
  }
  return view;
}

function listNames(body: unknown): string[] {
  const items = Array.isArray(body)
    ? body
    : ((body as { items?: unknown; domains?: unknown } | undefined)?.items ?? (body as { domains?: unknown } | undefined)?.domains);
  if (!Array.isArray(items)) return [];
  return items.map((item: unknown) => (typeof item === 'string' ? item : String((item as { name?: unknown }).name))).sort();
}

/** Heap growth allowed across one fuzz target; a leak per input would exceed it at full runs. */
export const HEAP_BOUND_BYTES = 256 * 1024 * 1024;

export function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** Counts inputs and 5xx per target, printed at the end so a full run can be reported. */
export function tally(target: string): { count(): void; done(): void } {
  let inputs = 0;
  return {
    count() {
      inputs += 1;
    },
    done() {
      console.log(`fuzz ${target}: ${inputs} inputs, 0 5xx`);
    },
  };
}

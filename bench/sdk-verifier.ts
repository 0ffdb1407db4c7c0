// SDK verifier benchmark (issue 5): throughput of `createVerifier().verify` against raw
// `jose.jwtVerify` with `createRemoteJWKSet` on the same ES256 tokens, both with the key set
// already fetched from a loopback JWKS server. Distinct tokens measure the verifier's overhead on
// top of jose (target ≥ 0.9×); repeated tokens measure the verified-token cache (target ≥ 5×).
// Each round runs every row once (in a rotating order); a row's ratio is taken within each round,
// against its baseline measured moments apart, and the table shows medians over the rounds.
// Ratios use CPU time per verification (the whole process's, so WebCrypto's worker threads
// count): on a shared machine, wall-clock throughput moves with the neighbours' load, CPU time
// much less. The wall-clock ratio is shown beside it.
//
//   npm run bench:verifier
//   npm run bench:verifier -- --seconds 1 --rounds 31 --concurrency 64

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createVerifier } from '../packages/sdk/src/verifier/index.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '21' },
    concurrency: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '5000' },
    repeated: { type: 'string', default: '100' },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONCURRENCY = Number(args.concurrency);
const DISTINCT = Number(args.tokens);
const REPEATED = Number(args.repeated);
for (const [name, value] of Object.entries({ SECONDS, ROUNDS, CONCURRENCY, DISTINCT, REPEATED })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name.toLowerCase()} must be a positive number`);
}

const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
const jwksUri = new URL(`${issuer}/jwks`);

const now = Math.floor(Date.now() / 1000);
const sign = (i: number): Promise<string> =>
  new SignJWT({
    ver: 1,
    sub: 'alpha.api',
    uid: 'alpha.api',
    client_id: 'alpha.api',
    jti: `j${i}`,
    scp: ['readers', 'writers'],
    scope: 'beta:role.readers beta:role.writers',
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience('beta')
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
const distinct = await Promise.all(Array.from({ length: DISTINCT }, (_, i) => sign(i)));
const repeated = distinct.slice(0, REPEATED);

const remote = createRemoteJWKSet(jwksUri);
const joseVerify = (token: string): Promise<unknown> => jwtVerify(token, remote, { issuer, audience: 'beta', typ: 'at+jwt', algorithms: ['ES256'] });
const uncached = createVerifier({ issuer, jwksUri: jwksUri.href, audience: 'beta', cacheSize: 0 });
const cached = createVerifier({ issuer, jwksUri: jwksUri.href, audience: 'beta' });
const requirement = cached.requirement({ scope: ['beta:role.readers'] });

interface Row {
  id: string;
  label: string;
  tokens: readonly string[];
  verify: (token: string) => Promise<unknown>;
  /** The row this one is compared with, and the target ratio. */
  against?: { id: string; target: number };
}

const rows: Row[] = [
  { id: 'jose', label: 'jose.jwtVerify, distinct tokens', tokens: distinct, verify: joseVerify },
  { id: 'sdk', label: 'SDK verify, cache off, distinct tokens', tokens: distinct, verify: (t) => uncached.verify(t), against: { id: 'jose', target: 0.9 } },
  {
    id: 'sdk-miss',
    label: 'SDK verify, cache on, distinct tokens (all misses)',
    tokens: distinct,
    verify: (t) => cached.verify(t),
    against: { id: 'jose', target: 0.9 },
  },
  {
    id: 'sdk-scope',
    label: 'SDK verify + required scope, cache off',
    tokens: distinct,
    verify: (t) => uncached.verify(t, { requirement }),
    against: { id: 'jose', target: 0.9 },
  },
  { id: 'jose-rep', label: `jose.jwtVerify, ${REPEATED} repeated tokens`, tokens: repeated, verify: joseVerify },
  {
    id: 'sdk-hit',
    label: `SDK verify, cache on, ${REPEATED} repeated tokens`,
    tokens: repeated,
    verify: (t) => cached.verify(t),
    against: { id: 'jose-rep', target: 5 },
  },
];

interface Sample {
  /** Verifications per second of wall time. */
  perSecond: number;
  /** CPU microseconds (user + system, all threads) per verification. */
  cpuMicros: number;
}

/** CONCURRENCY verifications in flight for SECONDS. */
async function measure(row: Row): Promise<Sample> {
  let next = 0;
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  const cpu = process.cpuUsage();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const token = row.tokens[next++ % row.tokens.length] as string;
      await row.verify(token);
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(cpu);
  return { perSecond: done / ((performance.now() - start) / 1000), cpuMicros: (used.user + used.system) / done };
}

// Warm up: the JWKS fetch, jose's imported-key cache, V8's optimisation of every path.
for (const row of rows) for (const token of row.tokens.slice(0, 200)) await row.verify(token);

const samples = new Map<string, Sample[]>(rows.map((r) => [r.id, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = rows.map((_, i) => rows[(i + round) % rows.length] as Row);
  for (const row of round % 2 === 0 ? order : order.reverse()) samples.get(row.id)?.push(await measure(row));
}
jwksServer.close();

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const perSecond = new Map(rows.map((r) => [r.id, median((samples.get(r.id) ?? []).map((s) => s.perSecond))]));
const cpuMicros = new Map(rows.map((r) => [r.id, median((samples.get(r.id) ?? []).map((s) => s.cpuMicros))]));
/** Median over rounds of (this row ÷ its baseline in the same round), by CPU time or by wall-clock rate. */
const pairedRatio = (row: Row, of: (sample: Sample) => number): number | null => {
  if (!row.against) return null;
  const mine = samples.get(row.id) ?? [];
  const base = samples.get(row.against.id) ?? [];
  return median(mine.map((sample, round) => of(sample) / of(base[round] as Sample)));
};
/** How many times as many verifications per CPU second as the row it is compared with. */
const ratioOf = (row: Row): number | null => pairedRatio(row, (s) => 1 / s.cpuMicros);

const header = ['row', 'verifications/s', 'CPU µs each', 'vs', 'ratio (CPU)', 'ratio (wall)', 'target'];
const lines = rows.map((row) => {
  const ratio = ratioOf(row);
  const wall = pairedRatio(row, (s) => s.perSecond);
  return [
    row.label,
    Math.round(perSecond.get(row.id) ?? 0).toLocaleString('en-US'),
    (cpuMicros.get(row.id) ?? 0).toFixed(1),
    row.against?.id ?? '',
    ratio === null ? '' : `${ratio.toFixed(2)}×`,
    wall === null ? '' : `${wall.toFixed(2)}×`,
    row.against ? `≥ ${row.against.target}× ${ratio !== null && ratio >= row.against.target ? 'met' : 'MISSED'}` : '',
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
const format = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
console.log(
  `SDK verifier vs jose.jwtVerify: ES256, ${CONCURRENCY} in flight, ${SECONDS} s × ${ROUNDS} rounds (median), Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}`,
);
console.log('CPU µs each = process CPU time (all threads) per verification; targets are judged on it\n');
console.log(format(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const line of lines) console.log(format(line));
const missed = rows.filter((row) => row.against && (ratioOf(row) ?? 0) < row.against.target);
console.log(missed.length === 0 ? '\nall targets met' : `\ntargets missed: ${missed.map((r) => r.id).join(', ')}`);

// SDK benchmark: what the SDK costs on a service's hot path, printed as one table with a row per
// measurement and its target (issue 5). Each row runs `--rounds` times over `--calls` calls and
// shows the median round; time is read with process.hrtime.bigint around the whole round.
//
//   npm run bench:sdk
//   npm run bench:sdk -- --calls 2000000 --rounds 7
//
// More rows (the verifier's) go into ROWS below; each returns one BenchRow.

import { parseArgs } from 'node:util';
import { createTokenClient, type AccessTokenRequest } from '../packages/sdk/src/index.ts';

export interface BenchRow {
  measure: string;
  /** Calls per round. */
  calls: number;
  /** The median round's figure, formatted, e.g. "0.21 µs/call". */
  result: string;
  target: string;
  /** undefined when the row has no target. */
  met: boolean | undefined;
}

export interface BenchSettings {
  calls: number;
  rounds: number;
}

const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '5' } } });
const settings: BenchSettings = { calls: wholeNumber(values.calls, '--calls', 1_000_000), rounds: wholeNumber(values.rounds, '--rounds', 1) };

/** Median nanoseconds per call of `round`, which makes `calls` calls. */
async function nsPerCall(settings: BenchSettings, round: (calls: number) => Promise<void>): Promise<number> {
  await round(Math.min(settings.calls, 100_000)); // warm-up: let V8 optimise the path
  const perCall: number[] = [];
  for (let i = 0; i < settings.rounds; i++) {
    const started = process.hrtime.bigint();
    await round(settings.calls);
    perCall.push(Number(process.hrtime.bigint() - started) / settings.calls);
  }
  perCall.sort((a, b) => a - b);
  return perCall[Math.floor(perCall.length / 2)]!;
}

function microseconds(ns: number): string {
  return `${(ns / 1000).toFixed(3)} µs/call`;
}

/** The floor: awaiting an already-resolved promise, which any async getter costs at least. */
async function awaitFloor(settings: BenchSettings): Promise<BenchRow> {
  const token = Promise.resolve('token');
  const ns = await nsPerCall(settings, async (calls) => {
    for (let i = 0; i < calls; i++) await token;
  });
  return { measure: 'floor: await a resolved promise', calls: settings.calls, result: microseconds(ns), target: '—', met: undefined };
}

/** The token client's cache hit: what every outgoing call pays once the token is cached. */
async function cachedGetAccessToken(settings: BenchSettings, label: string, request: AccessTokenRequest): Promise<BenchRow> {
  const client = createTokenClient({
    tokenEndpoint: 'https://tessera.bench/oauth2/token',
    credentials: { clientId: 'alpha.api', clientSecret: 'bench' },
    // An in-process token server: the row measures the cache, not the network.
    fetch: async () => Response.json({ access_token: 'eyJ.bench.token', token_type: 'Bearer', expires_in: 3600 }),
  });
  try {
    await client.getAccessToken(request);
    const ns = await nsPerCall(settings, async (calls) => {
      for (let i = 0; i < calls; i++) await client.getAccessToken(request);
    });
    return {
      measure: `token client: cached getAccessToken(${label})`,
      calls: settings.calls,
      result: microseconds(ns),
      target: '≤ 2 µs/call',
      met: ns <= 2000,
    };
  } finally {
    await client.close();
  }
}

const ROWS: ((settings: BenchSettings) => Promise<BenchRow>)[] = [
  awaitFloor,
  (s) => cachedGetAccessToken(s, "{ scope: 'beta:domain' }", { scope: 'beta:domain' }),
  (s) => cachedGetAccessToken(s, "{ domain: 'beta', roles: [2] }", { domain: 'beta', roles: ['readers', 'writers'] }),
];

function printTable(rows: readonly BenchRow[]): void {
  const header = ['measure', 'calls/round', 'median round', 'target', 'met'];
  const lines = rows.map((row) => [
    row.measure,
    row.calls.toLocaleString('en-US'),
    row.result,
    row.target,
    row.met === undefined ? '' : row.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(format(header));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const line of lines) console.log(format(line));
}

function wholeNumber(value: string | undefined, flag: string, min: number): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < min) throw new Error(`${flag} must be a whole number ≥ ${min}, not ${JSON.stringify(value)}`);
  return number;
}

console.log(
  `SDK benchmark: Node.js ${process.version}, ${settings.rounds} rounds of ${settings.calls.toLocaleString('en-US')} calls per row, median round shown\n`,
);
const rows: BenchRow[] = [];
for (const row of ROWS) rows.push(await row(settings));
printTable(rows);
if (rows.some((row) => row.met === false)) {
  console.log('\nA target was missed.');
  process.exitCode = 1;
}

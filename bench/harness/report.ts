// What a run prints and commits: the table, Tessera's ratios to the floor and to
// oidc-provider, the issue's targets met or missed (and by how much), and a bar chart as SVG
// text (no dependency).

import type { RowResult } from './run-row.ts';

export interface RunInfo {
  date: string;
  hostname: string;
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  loadAverage: number[];
  seconds: number;
  warmupSeconds: number;
  connections: number;
  rounds: number;
  command: string;
}

export interface TargetCheck {
  target: string;
  actual: string;
  /** null when the row could not be measured. */
  met: boolean | null;
  note?: string;
}

// Issue 11's targets.
const FLOOR_SHARE = 0.9;
const OIDC_BEST_MULTIPLE = 1.5;
const HALF_RATE_P99_MULTIPLE = 1.5;
const RSS_LIMIT_MB = 150;
const SQL_PER_TOKEN = 0.05;
const INSTANCES_CPU_MULTIPLE = 1.1;
const POSTGRES_MS_PER_TOKEN = 0.02;
const REUSE_MULTIPLE = 1.5;

/** The rows the targets are about (see token-endpoint.ts). */
export const DEFAULT_ROW = 'tessera-default';
export const ONE_PG_ROW = 'tessera-1-pg';
export const TWO_INSTANCES_ROW = 'tessera-2i-pg';
/** Token exchanges on Tessera ×1, compared with its client credentials row. */
export const EXCHANGE_ROW = 'tessera-1-exchange';
const CLIENT_CREDENTIALS_ROW = 'tessera-1';

/** Token exchange tokens/s beside client credentials tokens/s of the same run, with the ratio; undefined without both. */
export function exchangeComparison(rows: readonly RowResult[]): string | undefined {
  const exchange = rows.find((row) => row.id === EXCHANGE_ROW && row.status === 'ok');
  const plain = rows.find((row) => row.id === CLIENT_CREDENTIALS_ROW && row.status === 'ok');
  if (!exchange || !plain) return undefined;
  const byCpu = cpuRatio(exchange, plain);
  return (
    `Token exchange vs client credentials (Tessera ×1, same run): ${exchange.tokensPerSecond} vs ${plain.tokensPerSecond} tokens/s = ` +
    `${ratio(exchange, plain)!.toFixed(2)} ×${byCpu === undefined ? '' : ` (by CPU per token ${byCpu.toFixed(2)} ×)`}`
  );
}

/** The reference rows a Tessera row is compared with: same number of processes. */
export function referencesOf(row: RowResult, rows: readonly RowResult[]): { floor?: RowResult; oidc?: RowResult } {
  const find = (kind: RowResult['kind']): RowResult | undefined => rows.find((r) => r.kind === kind && r.processes === row.processes && r.status === 'ok');
  return { floor: find('floor'), oidc: find('oidc-provider') };
}

function ratio(a: RowResult | undefined, b: RowResult | undefined): number | undefined {
  if (!a?.tokensPerSecond || !b?.tokensPerSecond) return undefined;
  return Math.round((100 * a.tokensPerSecond) / b.tokensPerSecond) / 100;
}

/**
 * The same ratio from CPU per token instead of tokens/s: what the ratio would be if both had
 * the same CPU. On a shared machine a row that happened to get less CPU loses tokens/s but
 * not CPU per token, so this is the steadier of the two.
 */
function cpuRatio(a: RowResult | undefined, b: RowResult | undefined): number | undefined {
  const costA = a ? cpuPerToken(a) : undefined;
  const costB = b ? cpuPerToken(b) : undefined;
  if (!costA || !costB) return undefined;
  return Math.round((100 * costB) / costA) / 100;
}

function ratioCell(a: RowResult, b: RowResult | undefined): string {
  const byRate = ratio(a, b);
  if (byRate === undefined) return '–';
  const byCpu = cpuRatio(a, b);
  return byCpu === undefined ? `${byRate.toFixed(2)} ×` : `${byRate.toFixed(2)} × (CPU ${byCpu.toFixed(2)} ×)`;
}

export function checkTargets(rows: readonly RowResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const tessera = rows.filter((row) => row.kind === 'tessera');
  const unmeasured = (target: string, row: RowResult | undefined, why = 'no reference row'): void => {
    checks.push({ target, actual: !row ? 'row not run' : row.status === 'ok' ? why : (row.note ?? row.status), met: null });
  };
  const minimum = (target: string, row: RowResult, other: RowResult | undefined, needed: number): void => {
    const value = ratio(row, other);
    if (value === undefined) return unmeasured(target, row);
    const met = value >= needed;
    const note = met
      ? undefined
      : `missed by ${Math.round((100 * (needed - value)) / needed)}%: needs ${Math.ceil(other!.tokensPerSecond! * needed)} tokens/s, has ${row.tokensPerSecond}`;
    const byCpu = cpuRatio(row, other);
    const steadier = byCpu === undefined ? '' : `; by CPU per token ${byCpu.toFixed(2)} ×`;
    checks.push({ target, actual: `${value.toFixed(2)} × (${row.tokensPerSecond} vs ${other!.tokensPerSecond} tokens/s${steadier})`, met, note });
  };
  const maximum = (target: string, actual: string, value: number, limit: number, unit: string): void => {
    const met = value <= limit;
    checks.push({ target, actual, met, note: met ? undefined : `missed by ${Math.round((100 * (value - limit)) / limit)}% (${unit})` });
  };

  const main = rows.find((row) => row.id === DEFAULT_ROW);
  if (main) {
    const { floor } = referencesOf(main, rows);
    minimum(`${main.label} ≥ ${FLOOR_SHARE} × floor ×${main.processes}`, main, floor, FLOOR_SHARE);
    const oidcBest = rows.filter((row) => row.kind === 'oidc-provider' && row.status === 'ok').sort((a, b) => b.tokensPerSecond! - a.tokensPerSecond!)[0];
    minimum(
      `${main.label} ≥ ${OIDC_BEST_MULTIPLE} × oidc-provider at its best${oidcBest ? ` (×${oidcBest.processes})` : ''}`,
      main,
      oidcBest,
      OIDC_BEST_MULTIPLE,
    );
    const target = `${main.label}: p99 at half of peak ≤ ${HALF_RATE_P99_MULTIPLE} × floor ×${main.processes}'s p99 at half of its peak`;
    if (!main.halfRate || !floor?.halfRate) unmeasured(target, main, 'no half-rate run of both');
    else {
      const limit = floor.halfRate.p99Ms * HALF_RATE_P99_MULTIPLE;
      const failed = main.halfRate.failed > 0 ? `; ${main.halfRate.failed} failed` : '';
      maximum(
        target,
        `p99 ${main.halfRate.p99Ms} ms at ${main.halfRate.achievedRate} tokens/s vs floor's ${floor.halfRate.p99Ms} ms (limit ${limit.toFixed(2)} ms)${failed}`,
        main.halfRate.failed > 0 ? Infinity : main.halfRate.p99Ms,
        limit,
        'ms',
      );
    }
  } else
    checks.push({
      target: `Tessera default serve ≥ ${FLOOR_SHARE} × floor, ≥ ${OIDC_BEST_MULTIPLE} × oidc-provider at its best`,
      actual: 'row not run',
      met: null,
    });

  for (const row of tessera.filter((r) => r.memory)) {
    const peak = row.memory!.processMb;
    const sum = row.processes > 1 || (row.afterPeak?.length ?? 0) > 1 ? `; ${row.memory!.totalMb} MB summed over its processes` : '';
    maximum(`${row.label}: peak RSS ≤ ${RSS_LIMIT_MB} MB per process`, `${peak} MB${sum}`, peak, RSS_LIMIT_MB, 'MB');
  }
  // Issue 11's statement budget is for client credentials; a token exchange reads the subject token's standing (shown in the storage table).
  for (const row of tessera.filter((r) => r.sql && r.id !== EXCHANGE_ROW)) {
    const target = `${row.label}: SQL statements per token ≤ ${SQL_PER_TOKEN}`;
    const per = sqlPerToken(row);
    if (per === undefined) unmeasured(target, row, 'missing' in row.sql! ? row.sql.missing : 'no token requests counted');
    else
      maximum(
        target,
        `${per.toFixed(3)} (${'statements' in row.sql! ? `${row.sql.statements} statements for ${row.sql.tokenRequests} token requests` : ''})`,
        per,
        SQL_PER_TOKEN,
        'statements',
      );
  }
  for (const row of tessera.filter((r) => r.postgresCpu !== undefined && r.tokensPerSecond)) {
    const ms = postgresPerToken(row)!;
    maximum(
      `${row.label}: PostgreSQL CPU per token ≤ ${POSTGRES_MS_PER_TOKEN} ms`,
      `${ms.toFixed(3)} ms (every postgres process on the machine)`,
      ms,
      POSTGRES_MS_PER_TOKEN,
      'ms',
    );
  }
  const two = rows.find((row) => row.id === TWO_INSTANCES_ROW);
  const one = rows.find((row) => row.id === ONE_PG_ROW);
  if (two || one) {
    const target = `${two?.label ?? 'two instances on one PostgreSQL'}: node + PostgreSQL CPU per token ≤ ${INSTANCES_CPU_MULTIPLE} × one instance's`;
    const [costTwo, costOne] = [two && totalCpuPerToken(two), one && totalCpuPerToken(one)];
    if (!costTwo || !costOne) unmeasured(target, two?.status === 'ok' ? one : two);
    else {
      const multiple = costTwo / costOne;
      maximum(target, `${costTwo.toFixed(3)} vs ${costOne.toFixed(3)} ms (${multiple.toFixed(2)} ×)`, multiple, INSTANCES_CPU_MULTIPLE, 'CPU');
    }
  }
  for (const row of tessera.filter((r) => r.id.endsWith('reuse'))) {
    if (row.status === 'n/a') checks.push({ target: `${row.label} ≥ ${REUSE_MULTIPLE} × floor ×1`, actual: row.note ?? 'n/a', met: null });
    else minimum(`${row.label} ≥ ${REUSE_MULTIPLE} × floor ×1`, row, referencesOf(row, rows).floor, REUSE_MULTIPLE);
  }
  return checks;
}

export function sqlPerToken(row: RowResult): number | undefined {
  if (!row.sql || !('statements' in row.sql) || row.sql.tokenRequests <= 0) return undefined;
  return row.sql.statements / row.sql.tokenRequests;
}

/** Milliseconds of CPU of every PostgreSQL process per token. */
export function postgresPerToken(row: RowResult): number | undefined {
  if (row.postgresCpu === undefined || !row.tokensPerSecond) return undefined;
  return (row.postgresCpu * 1000) / row.tokensPerSecond;
}

/** Tessera's processes and every PostgreSQL process, in ms per token (this database's backends when the rest was not read). */
export function totalCpuPerToken(row: RowResult): number | undefined {
  if (row.serverCpu === undefined || !row.tokensPerSecond) return undefined;
  return ((row.serverCpu + (row.postgresCpu ?? row.databaseCpu ?? 0)) * 1000) / row.tokensPerSecond;
}

/** What each Tessera row cost its storage. */
export function storageTable(rows: readonly RowResult[]): string[][] {
  const header = ['server', 'SQL statements / token', 'PostgreSQL CPU ms/token (all / this database)', 'node + PostgreSQL CPU ms/token'];
  return [
    header,
    ...rows
      .filter((row) => row.kind === 'tessera' && row.status === 'ok')
      .map((row) => {
        const sql = sqlPerToken(row);
        const databaseMs = row.databaseCpu === undefined || !row.tokensPerSecond ? undefined : (row.databaseCpu * 1000) / row.tokensPerSecond;
        return [
          row.label,
          sql === undefined ? (row.sql && 'missing' in row.sql ? row.sql.missing : '–') : sql.toFixed(3),
          row.postgresCpu === undefined ? '–' : `${num(postgresPerToken(row), 3)} / ${num(databaseMs, 3)}`,
          num(totalCpuPerToken(row), 3),
        ];
      }),
  ];
}

const num = (value: number | undefined, digits = 0): string => (value === undefined ? '–' : value.toFixed(digits));

export function tableRows(rows: readonly RowResult[]): string[][] {
  const header = [
    'server',
    'procs',
    'storage',
    'tokens/s',
    'p50 ms',
    'p99 ms',
    'CPU ms/token',
    'CPU cores: server (+db) / load gen / other',
    'peak RSS MB',
    'vs floor',
    'vs oidc-provider',
  ];
  const body = rows.map((row) => {
    if (row.status !== 'ok') return [row.label, String(row.processes), row.storage ?? '', row.note ?? row.status, '', '', '', '', '', '', ''];
    const { floor, oidc } = row.kind === 'tessera' ? referencesOf(row, rows) : {};
    const rss = row.processes > 1 ? `${num(row.memory?.totalMb)} (${num(row.memory?.processMb)} max/proc)` : num(row.memory?.processMb);
    return [
      row.label,
      String(row.processes),
      row.storage ?? '',
      num(row.tokensPerSecond),
      num(row.p50Ms),
      num(row.p99Ms),
      num(cpuPerToken(row), 2),
      row.serverCpu === undefined
        ? '–'
        : `${num(row.serverCpu, 2)}${row.databaseCpu === undefined ? '' : ` (+${num(row.databaseCpu, 2)})`} / ${num(row.loadCpu, 2)} / ${num(row.otherCpu, 2)}`,
      rss,
      row.kind === 'tessera' ? ratioCell(row, floor) : '',
      row.kind === 'tessera' ? ratioCell(row, oidc) : '',
    ];
  });
  return [header, ...body];
}

/** Server CPU (with its database's) per token: the figure least disturbed by a busy machine. */
export function cpuPerToken(row: RowResult): number | undefined {
  if (row.serverCpu === undefined || !row.tokensPerSecond) return undefined;
  return ((row.serverCpu + (row.databaseCpu ?? 0)) * 1000) / row.tokensPerSecond;
}

export function textTable(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function markdownTable(cells: string[][]): string {
  const [header, ...body] = cells;
  const line = (row: string[]): string => `| ${row.map((cell) => cell || ' ').join(' | ')} |`;
  return [line(header!), line(header!.map(() => '---')), ...body.map(line)].join('\n');
}

export function halfRateTable(rows: readonly RowResult[]): string[][] {
  const header = ['server', 'target tokens/s', 'achieved', 'p50 ms', 'p99 ms', 'max ms', 'failed', 'event loop late p99 / max ms'];
  return [
    header,
    ...rows
      .filter((r) => r.halfRate)
      .map((r) => {
        const half = r.halfRate!;
        return [
          r.label,
          String(half.targetRate),
          String(half.achievedRate),
          half.p50Ms.toFixed(2),
          half.p99Ms.toFixed(2),
          half.maxMs.toFixed(1),
          String(half.failed),
          `${num(half.loopDelayP99Ms, 1)} / ${num(half.loopDelayMaxMs, 1)}`,
        ];
      }),
  ];
}

/** V8's view of each server process right after its peak run. */
export function memoryTable(rows: readonly RowResult[]): string[][] {
  const header = ['server', 'process', 'RSS MB', 'heap total', 'heap used', 'external', 'event loop late p99 / max ms (peak run)'];
  return [
    header,
    ...rows.flatMap((r) =>
      (r.afterPeak ?? []).map((report, i) => [
        r.label,
        String(i + 1),
        num(report.memoryMb.rss),
        num(report.memoryMb.heapTotal),
        num(report.memoryMb.heapUsed),
        num(report.memoryMb.external),
        `${num(report.loopDelayMs.p99, 1)} / ${num(report.loopDelayMs.max, 1)}`,
      ]),
    ),
  ];
}

export function targetLines(checks: readonly TargetCheck[]): string[] {
  const mark = (met: boolean | null): string => (met === null ? 'n/a ' : met ? 'met ' : 'MISS');
  return checks.map((check) => `${mark(check.met)}  ${check.target}: ${check.actual}${check.note ? ` — ${check.note}` : ''}`);
}

const COLOURS: Record<RowResult['kind'], string> = { floor: '#8a8f98', 'oidc-provider': '#e59b3c', tessera: '#2f6fde' };

/** Horizontal bars of tokens/s, one per measured row, with p99, CPU per token and peak RSS beside each. */
export function chartSvg(rows: readonly RowResult[], info: RunInfo): string {
  const measured = rows.filter((row) => row.status === 'ok' && row.tokensPerSecond);
  const left = 230;
  const barMax = 420;
  const rowHeight = 30;
  const groupGap = 12;
  const top = 56;
  // One process, then two, then the token-reuse row: a gap wherever the process count changes.
  const ys: number[] = [];
  let y = top;
  measured.forEach((row, i) => {
    if (i > 0 && row.processes !== measured[i - 1]!.processes) y += groupGap;
    ys.push(y);
    y += rowHeight;
  });
  const width = left + barMax + 330;
  const height = y + 40;
  const max = Math.max(1, ...measured.map((row) => row.tokensPerSecond!));
  const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="600">Token endpoint: tokens/s (higher is better)</text>`,
    `<text x="16" y="43" fill="#555">${escape(`${info.date} · ${info.hostname} · ${info.cores} cores · Node.js ${info.node} · ${info.connections} connections, ${info.seconds} s per row${info.rounds > 1 ? `, median of ${info.rounds} rounds` : ''}`)}</text>`,
  ];
  measured.forEach((row, i) => {
    const rowY = ys[i]!;
    const length = Math.max(2, Math.round((row.tokensPerSecond! / max) * barMax));
    const details = `p99 ${num(row.p99Ms)} ms · ${num(cpuPerToken(row), 2)} ms CPU/token · ${num(row.memory?.totalMb)} MB`;
    parts.push(`<text x="${left - 10}" y="${rowY + 19}" text-anchor="end">${escape(row.label)}</text>`);
    parts.push(`<rect x="${left}" y="${rowY + 5}" width="${length}" height="${rowHeight - 10}" rx="3" fill="${COLOURS[row.kind]}"/>`);
    parts.push(`<text x="${left + length + 8}" y="${rowY + 19}">${row.tokensPerSecond} <tspan fill="#666">· ${escape(details)}</tspan></text>`);
  });
  const legendY = height - 14;
  let x = 16;
  for (const [kind, colour] of Object.entries(COLOURS)) {
    parts.push(`<rect x="${x}" y="${legendY - 10}" width="12" height="12" rx="2" fill="${colour}"/><text x="${x + 17}" y="${legendY}">${kind}</text>`);
    x += 30 + kind.length * 8;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

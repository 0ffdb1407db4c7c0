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

const FLOOR_SHARE = 0.9;
const OIDC_MULTIPLE = 1.15;
const REUSE_MULTIPLE = 1.5;
const HALF_RATE_P99_MS = 5;
const RSS_LIMIT_MB = 150;

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
  const minimum = (target: string, row: RowResult, other: RowResult | undefined, needed: number): void => {
    const value = ratio(row, other);
    if (value === undefined) {
      checks.push({ target, actual: row.status === 'ok' ? 'no reference row' : (row.note ?? row.status), met: null });
      return;
    }
    const met = value >= needed;
    const note = met ? undefined : `missed by ${Math.round((100 * (needed - value)) / needed)}%: needs ${Math.ceil(other!.tokensPerSecond! * needed)} tokens/s, has ${row.tokensPerSecond}`;
    const byCpu = cpuRatio(row, other);
    const steadier = byCpu === undefined ? '' : `; by CPU per token ${byCpu.toFixed(2)} ×`;
    checks.push({ target, actual: `${value.toFixed(2)} × (${row.tokensPerSecond} vs ${other!.tokensPerSecond} tokens/s${steadier})`, met, note });
  };
  for (const row of tessera.filter((r) => !r.id.endsWith('reuse'))) {
    const { floor, oidc } = referencesOf(row, rows);
    minimum(`${row.label} ≥ ${FLOOR_SHARE} × floor ×${row.processes}`, row, floor, FLOOR_SHARE);
    minimum(`${row.label} ≥ ${OIDC_MULTIPLE} × oidc-provider ×${row.processes}`, row, oidc, OIDC_MULTIPLE);
  }
  for (const row of tessera.filter((r) => r.halfRate)) {
    const half = row.halfRate!;
    const met = half.p99Ms <= HALF_RATE_P99_MS && half.failed === 0;
    checks.push({
      target: `${row.label}: p99 ≤ ${HALF_RATE_P99_MS} ms at half of peak`,
      actual: `p99 ${half.p99Ms} ms at ${half.achievedRate} tokens/s`,
      met,
      note: met ? undefined : `missed by ${Math.round(((half.p99Ms - HALF_RATE_P99_MS) / HALF_RATE_P99_MS) * 100)}%`,
    });
  }
  for (const row of tessera.filter((r) => r.id.endsWith('reuse'))) {
    if (row.status === 'n/a') checks.push({ target: `${row.label} ≥ ${REUSE_MULTIPLE} × floor ×1`, actual: row.note ?? 'n/a', met: null });
    else minimum(`${row.label} ≥ ${REUSE_MULTIPLE} × floor ×1`, row, referencesOf(row, rows).floor, REUSE_MULTIPLE);
  }
  for (const row of tessera.filter((r) => r.memory)) {
    const peak = row.memory!.processMb;
    const met = peak <= RSS_LIMIT_MB;
    checks.push({ target: `${row.label}: peak RSS ≤ ${RSS_LIMIT_MB} MB per process`, actual: `${peak} MB`, met, note: met ? undefined : `missed by ${Math.round(peak - RSS_LIMIT_MB)} MB` });
  }
  return checks;
}

const num = (value: number | undefined, digits = 0): string => (value === undefined ? '–' : value.toFixed(digits));

export function tableRows(rows: readonly RowResult[]): string[][] {
  const header = ['server', 'procs', 'storage', 'tokens/s', 'p50 ms', 'p99 ms', 'CPU ms/token', 'CPU cores: server (+db) / load gen / other', 'peak RSS MB', 'vs floor', 'vs oidc-provider'];
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
      row.serverCpu === undefined ? '–' : `${num(row.serverCpu, 2)}${row.databaseCpu === undefined ? '' : ` (+${num(row.databaseCpu, 2)})`} / ${num(row.loadCpu, 2)} / ${num(row.otherCpu, 2)}`,
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
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
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
        return [r.label, String(half.targetRate), String(half.achievedRate), half.p50Ms.toFixed(2), half.p99Ms.toFixed(2), half.maxMs.toFixed(1), String(half.failed), `${num(half.loopDelayP99Ms, 1)} / ${num(half.loopDelayMaxMs, 1)}`];
      }),
  ];
}

/** V8's view of each server process right after its peak run. */
export function memoryTable(rows: readonly RowResult[]): string[][] {
  const header = ['server', 'process', 'RSS MB', 'heap total', 'heap used', 'external', 'event loop late p99 / max ms (peak run)'];
  return [
    header,
    ...rows.flatMap((r) =>
      (r.afterPeak ?? []).map((report, i) => [r.label, String(i + 1), num(report.memoryMb.rss), num(report.memoryMb.heapTotal), num(report.memoryMb.heapUsed), num(report.memoryMb.external), `${num(report.loopDelayMs.p99, 1)} / ${num(report.loopDelayMs.max, 1)}`]),
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

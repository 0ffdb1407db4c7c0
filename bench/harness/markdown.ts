// The committed record of a run: bench/results/<date>-<host>.md, readable on its own.

import type { Probe } from './features.ts';
import { formatProfile, type ProfileSummary } from './profile.ts';
import {
  exchangeComparison,
  halfRateTable,
  markdownTable,
  memoryTable,
  storageTable,
  tableRows,
  targetLines,
  type RunInfo,
  type TargetCheck,
} from './report.ts';
import type { RowResult } from './run-row.ts';

export interface RunRecord {
  info: RunInfo;
  rows: RowResult[];
  targets: TargetCheck[];
  /** Tessera's guards as probed in this run (see harness/features.ts). */
  features: Record<string, Probe>;
  /** When Tessera missed a target: the floor and Tessera profiled under the same load. */
  profiles?: { label: string; tokensPerSecond: number; cpuMsPerToken: number | undefined; summary: ProfileSummary }[];
}

export function markdownReport(record: RunRecord): string {
  const { info, rows, targets, features, profiles } = record;
  const out = [
    `# Token endpoint benchmark, ${info.date} on ${info.hostname}`,
    '',
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGb} GB, Linux ${info.kernel}, Node.js ${info.node}; load average ${info.loadAverage.map((l) => l.toFixed(2)).join(' ')} at start (a shared machine: compare rows within this run only).`,
    `Run: \`${info.command}\`: ${info.connections} keep-alive connections, ${info.warmupSeconds} s warm-up discarded, then ${info.seconds} s measured per row${info.rounds > 1 ? `, ${info.rounds} rounds back and forth through the rows, each row showing its median round` : ''}; plain HTTP on 127.0.0.1.`,
    '',
    '"CPU ms/token" is the CPU time of the server processes (and, for PostgreSQL, of its backends for this database) per token issued: the figure a busy machine disturbs least, and the source of the "(CPU … ×)" ratios, which say what the tokens/s ratio would be with equal CPU. "Other" CPU is everything else the machine did meanwhile (other users, the harness).',
    '',
    markdownTable(tableRows(rows)),
    '',
    ...(exchangeComparison(rows) ? [`${exchangeComparison(rows)!}.`, ''] : []),
    '![tokens/s per server](token-endpoint.svg)',
    '',
    '## Latency at half of peak',
    '',
    'Open-loop load at 50 % of the peak just measured on the same server (2 s of it discarded first), requests due at even intervals; latency counts from when each request was due, so a stall cannot hide. "Event loop late" is how late the server\'s event loop ran meanwhile (`monitorEventLoopDelay`).',
    '',
    markdownTable(halfRateTable(rows)),
    '',
    '## Memory and event loop right after the peak run',
    '',
    "Each serving process's `process.memoryUsage()` (MB) and how late its event loop ran during the peak run.",
    '',
    markdownTable(memoryTable(rows)),
    '',
    '## Storage work',
    '',
    'SQL statements per token request: Tessera\'s `tessera_sql_statements_total` over its `tessera_token_requests_total`, both read from /metrics when the measured part starts and ends; only on rows whose instances are one process each (`--workers 1`), because with several workers a scrape reaches one of them. PostgreSQL CPU: utime + stime (with what exited children left) of every `postgres` process on the machine, before and after; "this database" is only the backends connected to the row\'s database.',
    '',
    markdownTable(storageTable(rows)),
    '',
    '## Targets (issue 11)',
    '',
    ...targetLines(targets).map((line) => `- ${line}`),
    '',
    "## Tessera's guards in this run",
    '',
    ...Object.entries(features).map(([name, probe]) => `- ${name}: ${probe.on ? 'on' : 'OFF'} (${probe.evidence})`),
    '- role resolution: every request asks for `beta:domain`, resolved to the two roles `alpha.api` holds in `beta`',
    '',
    '## Tokens checked',
    '',
    'Before each row is loaded, tokens from the server are verified against its own JWKS (jose `jwtVerify`: ES256, issuer, audience `beta`, client `alpha.api`, both roles, `jti`, `exp`).',
    '',
    ...rows.filter((row) => row.token).map((row) => `- ${row.label}: ${row.token!.alg}, typ ${row.token!.typ ?? '–'}, claims ${row.token!.claims.join(' ')}`),
    '',
    '## How it is measured',
    '',
    '- Each server runs in its own process group; the load generator runs in another process, so neither shares an event loop with the server or with the harness. Peak: autocannon, closed loop. Half of peak: an open-loop pacer on raw keep-alive sockets (autocannon\'s `overallRate` sends each connection\'s quota for the second back to back, which is full concurrency for part of every second). On two cores the generator still competes for CPU: its share is the "load gen" column.',
    '- Two processes: node:cluster, round-robin (the primary accepts connections and hands them to two workers), for the floor and oidc-provider. Tessera runs as `tessera serve` (`--workers 1`, or no flag: one worker per core) when the build has `--workers`, else through the same bench cluster wrapper. "2 instances on one PostgreSQL" are two separate `--workers 1` processes on their own ports, sharing a throwaway database and master key; the load generator splits its connections between them (p99 is the worse of the two).',
    '- The floor: node:http, form parsing, one SHA-256 secret check, one ES256 signature (jose). oidc-provider 9: client_credentials, client_secret_basic, JWT access tokens (ES256) for resource `beta`, its in-memory adapter (nothing is stored for JWT access tokens).',
    '- Tessera: rate limits on at 1,000,000/s per client and per IP (every request goes through the buckets, none is refused), `allowedIps` 127.0.0.0/8 on the client, scope `beta:domain` resolved to two roles, audit as the build does it.',
    '- Peak RSS: VmRSS of every server process summed, sampled every 100 ms (with a cluster, the primary counts too), and the largest VmHWM of one process. The target is per process.',
  ];
  if (profiles && profiles.length > 0) {
    out.push('', "## Where Tessera's time goes (`node --cpu-prof`)", '');
    out.push(
      'A target was missed, so the floor and Tessera ×1 ran once more under the same load with `--cpu-prof` (main thread only: signing work in the libuv pool is not sampled). Shares are of the busy time of the whole process life, start-up included.',
    );
    for (const profile of profiles) {
      out.push(
        '',
        `### ${profile.label}: ${profile.tokensPerSecond} tokens/s while profiled, ${profile.cpuMsPerToken?.toFixed(2) ?? '–'} ms CPU per token`,
        '',
        '```',
        formatProfile(profile.summary),
        '```',
      );
    }
  }
  return `${out.join('\n')}\n`;
}

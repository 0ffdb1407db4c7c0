// The committed record of a smaller benchmark (bench:scale, bench:propagation, bench:gateway):
// bench/results/<name>-<date>-<host>.{json,md}, the Markdown readable on its own.

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { markdownTable } from './report.ts';

export interface SmallReport {
  /** File name start, e.g. `scale-sqlite`. */
  name: string;
  title: string;
  /** The npm script, e.g. `npm run bench:scale`; the run's own arguments are added. */
  script: string;
  /** Sentences on how the run went, after the machine and the command. */
  how: string;
  table: string[][];
  targets: string[];
  /** The heading over the targets; `Targets (issue 11)` unless given. */
  targetsHeading?: string;
  /** Everything else that goes into the JSON. */
  data: Record<string, unknown>;
}

export async function writeSmallReport(report: SmallReport): Promise<void> {
  const date = new Date().toISOString();
  const info = {
    date,
    hostname: hostname(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    node: process.version,
    loadAverage: loadavg(),
    command: [report.script, ...process.argv.slice(2)].join(' '),
  };
  const dir = join(import.meta.dirname, '..', 'results');
  const base = join(dir, `${report.name}-${date.slice(0, 10)}-${info.hostname}`);
  await mkdir(dir, { recursive: true });
  await writeFile(`${base}.json`, `${JSON.stringify({ info, ...report.data, targets: report.targets }, null, 2)}\n`);
  const md = [
    `# ${report.title}, ${date.slice(0, 10)} on ${info.hostname}`,
    '',
    `Machine: ${info.cpu}, ${info.cores} cores, Node.js ${info.node}; load average ${info.loadAverage.map((l) => l.toFixed(2)).join(' ')} at start (a shared machine). Run: \`${info.command}\`.`,
    '',
    report.how,
    '',
    markdownTable(report.table),
    '',
    `## ${report.targetsHeading ?? 'Targets (issue 11)'}`,
    '',
    ...report.targets.map((line) => `- ${line}`),
  ];
  await writeFile(`${base}.md`, `${md.join('\n')}\n`);
  console.log(`\nWrote ${base}.json and ${base}.md`);
}

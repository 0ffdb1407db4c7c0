// Where a server's CPU time goes, from the .cpuprofile files `node --cpu-prof` writes on exit:
// self time per function and per area (a package, Node's internals, GC, Tessera's own files),
// as shares of the busy (non-idle) time.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface CpuProfileNode {
  id: number;
  hitCount?: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface ProfileLine {
  name: string;
  /** Share of busy time, in percent. */
  percent: number;
  ms: number;
}

export interface ProfileSummary {
  files: string[];
  busyMs: number;
  idleMs: number;
  functions: ProfileLine[];
  areas: ProfileLine[];
  /** Tessera's own functions with everything they call (each counted once per sample). */
  inclusive: ProfileLine[];
}

const NOT_BUSY = new Set(['(idle)']);

/** Merges the profiles in `dir` written by the given processes (all of them when `pids` is empty). */
export async function summarizeProfiles(dir: string, pids: readonly number[] = [], top = 15): Promise<ProfileSummary> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile') && (pids.length === 0 || pids.some((pid) => name.includes(`.${pid}.`))));
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const name of names) {
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    const msPerSample = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
    for (const node of profile.nodes) {
      const ms = (node.hitCount ?? 0) * msPerSample;
      if (ms === 0) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      if (NOT_BUSY.has(functionName)) {
        idle += ms;
        continue;
      }
      busy += ms;
      const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'} ${where}`.trim();
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
      const area = areaOf(functionName, url);
      byArea.set(area, (byArea.get(area) ?? 0) + ms);
    }
    addInclusive(profile, msPerSample, inclusive);
  }
  const lines = (map: Map<string, number>): ProfileLine[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, ms]) => ({ name: key, ms: Math.round(ms), percent: Math.round((1000 * ms) / Math.max(busy, 1)) / 10 }));
  return { files: names, busyMs: Math.round(busy), idleMs: Math.round(idle), functions: lines(byFunction), areas: lines(byArea), inclusive: lines(inclusive) };
}

/** Per sample, every distinct Tessera function on the stack gets the sample's time once. */
function addInclusive(profile: CpuProfile, msPerSample: number, into: Map<string, number>): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stacks = new Map<number, string[]>();
  const stackOf = (id: number): string[] => {
    const known = stacks.get(id);
    if (known) return known;
    const keys = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
      if (/\/packages\/[^/]+\/src\//.test(url)) keys.add(`${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`);
    }
    const list = [...keys];
    stacks.set(id, list);
    return list;
  };
  for (const sample of profile.samples) for (const key of stackOf(sample)) into.set(key, (into.get(key) ?? 0) + msPerSample);
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length);
  const repo = path.indexOf('/packages/');
  if (repo >= 0) return path.slice(repo + 1);
  return path;
}

function areaOf(functionName: string, url: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : 'native (crypto, http parser, …)';
  if (url.startsWith('node:')) return 'node internals';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = /\/packages\/([^/]+)\/src\/(.+)$/.exec(path);
  if (src) return `tessera ${src[2]}`;
  return shortUrl(url);
}

export function formatProfile(summary: ProfileSummary): string {
  const share = (busy: number, idle: number): string => `${Math.round((100 * busy) / Math.max(busy + idle, 1))}%`;
  const out = [
    `busy ${summary.busyMs} ms of ${summary.busyMs + summary.idleMs} ms sampled (${share(summary.busyMs, summary.idleMs)}), ${summary.files.length} profile file(s)`,
  ];
  out.push('', 'self time by area:');
  for (const line of summary.areas) out.push(`  ${line.percent.toFixed(1).padStart(5)}%  ${line.name}`);
  out.push('', 'top functions by self time:');
  for (const line of summary.functions) out.push(`  ${line.percent.toFixed(1).padStart(5)}%  ${line.name}`);
  if (summary.inclusive.length > 0) {
    out.push('', "Tessera's functions with what they call (total time):");
    for (const line of summary.inclusive) out.push(`  ${line.percent.toFixed(1).padStart(5)}%  ${line.name}`);
  }
  return out.join('\n');
}

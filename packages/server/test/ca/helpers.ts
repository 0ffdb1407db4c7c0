// Shared fixtures for the CA tests: an in-memory stand-in for the two Store calls the CA makes,
// and thin wrappers around the openssl binary, used as an independent strict X.509 parser.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { CaStore } from '../../src/ca/authority.ts';
import type { CaRecord } from '../../src/storage/records.ts';

const run = promisify(execFile);

export interface MemoryCaStore extends CaStore {
  readonly records: CaRecord[];
}

/** First writer wins, like the real drivers' `initCa`. */
export function memoryCaStore(initial: CaRecord[] = []): MemoryCaStore {
  const records = [...initial];
  const active = (): CaRecord | null => records.find((record) => record.state === 'active') ?? null;
  return {
    records,
    async getActiveCa() {
      return active();
    },
    async initCa(ca) {
      const existing = active();
      if (existing !== null) return existing;
      records.push(ca);
      return ca;
    },
  };
}

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (name → content) into `dir` and returns their paths by name. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<Record<string, string>> {
  const paths: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    paths[name] = join(dir, name);
    await writeFile(paths[name], content);
  }
  return paths;
}

export interface OpensslResult {
  ok: boolean;
  output: string;
}

export async function openssl(args: string[]): Promise<OpensslResult> {
  try {
    const { stdout, stderr } = await run('openssl', args);
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** `openssl x509 -text` of one PEM certificate. */
export async function opensslText(dir: string, pem: string): Promise<string> {
  const { cert } = await writeFiles(dir, { cert: pem });
  const result = await openssl(['x509', '-noout', '-text', '-in', cert ?? '']);
  if (!result.ok) throw new Error(`openssl x509 failed: ${result.output}`);
  return result.output;
}

/** One extension from `openssl x509 -text`: whether it is critical and its value line(s). */
export function opensslExtension(text: string, name: string): { critical: boolean; value: string } | null {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.trim().startsWith(`${name}:`));
  if (at === -1) return null;
  const header = lines[at] ?? '';
  const value: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (/^\s*X509v3 |^\s*Signature Algorithm:|^\s*Authority Information Access:/.test(line)) break;
    value.push(line.trim());
  }
  return { critical: /:\s*critical\s*$/.test(header), value: value.join('\n') };
}

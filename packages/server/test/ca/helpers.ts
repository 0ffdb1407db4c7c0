// Shared fixtures for the CA tests: an in-memory stand-in for the Store calls the CA makes, a CA
// built on it, and thin wrappers around the openssl binary, an independent strict X.509 parser.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { loadCertificateAuthority } from '../../src/ca/authority.ts';
import type { CaStore, CertificateAuthority } from '../../src/ca/authority.ts';
import type { CaSettings } from '../../src/ca/settings.ts';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import type { Sealer } from '../../src/keys/master-key.ts';
import type { CaRecord, NewCertificate } from '../../src/storage/records.ts';

const run = promisify(execFile);

export const TRUST_DOMAIN = 'tessera.test';

export interface MemoryCaStore extends CaStore {
  readonly records: CaRecord[];
  readonly certificates: NewCertificate[];
  readonly audit: { type: string; actor: string; target: string }[];
}

/**
 * The CA calls of the Store with the SQL drivers' rules: one prepared and one active generation,
 * compare-and-set transitions along the state machine only, and an old generation removed only
 * once no certificate it signed is still valid at the store's `now`.
 */
export function memoryCaStore(initial: CaRecord[] = [], now: () => number = Date.now): MemoryCaStore {
  const records = [...initial];
  const certificates: MemoryCaStore['certificates'] = [];
  const audit: MemoryCaStore['audit'] = [];
  const inState = (state: CaRecord['state']): CaRecord | undefined => records.find((record) => record.state === state);
  const insert = (ca: CaRecord): boolean => {
    if (records.some((record) => record.id === ca.id) || inState(ca.state) !== undefined) return false;
    records.push({ ...ca });
    return true;
  };
  return {
    records,
    certificates,
    audit,
    async getActiveCa() {
      return inState('active') ?? null;
    },
    async initCa(ca) {
      assert.equal(ca.state, 'active', 'the first CA must be active');
      insert(ca);
      return inState('active')!;
    },
    async listCas() {
      return [...records].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((record) => ({ ...record }));
    },
    async insertPreparedCa(ca) {
      assert.equal(ca.state, 'prepared', 'a new generation must be prepared');
      return insert(ca);
    },
    async transitionCa(id, from, to) {
      assert.ok(`${from}>${to}` === 'prepared>active' || `${from}>${to}` === 'active>old', `no step from ${from} to ${to}`);
      const record = records.find((candidate) => candidate.id === id);
      if (record?.state !== from || (to === 'active' && inState('active') !== undefined)) return false;
      record.state = to;
      return true;
    },
    async removeCa(id) {
      const at = records.findIndex((record) => record.id === id && record.state === 'old');
      if (at === -1 || certificates.some((certificate) => certificate.caId === id && certificate.notAfter >= now())) return false;
      records.splice(at, 1);
      return true;
    },
    async recordCertificate(certificate, by) {
      certificates.push({ ...certificate });
      audit.push({ type: 'certificate.issue', actor: by.actor, target: certificate.serial });
    },
    async appendAudit(event) {
      audit.push({ type: event.type, actor: event.actor, target: event.target });
    },
    // No domains here: no other domain holds a principal's DNS label, so every certificate gets its name.
    async dnsLabelHolder() {
      return null;
    },
  };
}

export function testSettings(overrides: Partial<CaSettings> = {}): CaSettings {
  return {
    trustDomain: TRUST_DOMAIN,
    dnsSuffix: 'svc.tessera.test',
    certLifetime: 86_400,
    maxCertLifetime: 7 * 86_400,
    prePublication: 86_400,
    clockSkew: 60,
    import: null,
    ...overrides,
  };
}

export interface TestAuthority {
  ca: CertificateAuthority;
  store: MemoryCaStore;
  sealer: Sealer;
}

/** A CA on an in-memory store; `now` drives both the CA and the store. */
export async function newAuthority(
  options: { store?: MemoryCaStore; sealer?: Sealer; settings?: Partial<CaSettings>; now?: () => number } = {},
): Promise<TestAuthority> {
  const now = options.now ?? Date.now;
  const store = options.store ?? memoryCaStore([], now);
  const sealer = options.sealer ?? createSealer(generateMasterKey());
  const ca = await loadCertificateAuthority({ store, sealer, settings: testSettings(options.settings), now });
  return { ca, store, sealer };
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

/** The first certificate of a PEM chain: the issuing CA of a Tessera chain. */
export function firstPem(chainPem: string): string {
  const end = chainPem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length;
  return `${chainPem.slice(0, end).trim()}\n`;
}

/**
 * `openssl verify -x509_strict -purpose <purpose>` of `leafPem` against `bundlePem`, with the
 * chain's CA certificates as untrusted intermediates; `at` (ms) verifies at that time.
 */
export async function opensslVerify(
  dir: string,
  input: { bundlePem: string; chainPem: string; leafPem: string; purpose: 'sslclient' | 'sslserver'; at?: number },
): Promise<OpensslResult> {
  const paths = await writeFiles(dir, { 'verify-bundle.pem': input.bundlePem, 'verify-chain.pem': input.chainPem, 'verify-leaf.pem': input.leafPem });
  const attime = input.at === undefined ? [] : ['-attime', String(Math.floor(input.at / 1000))];
  return openssl([
    'verify',
    '-x509_strict',
    '-purpose',
    input.purpose,
    ...attime,
    '-CAfile',
    paths['verify-bundle.pem'] ?? '',
    '-untrusted',
    paths['verify-chain.pem'] ?? '',
    paths['verify-leaf.pem'] ?? '',
  ]);
}

// Go's crypto/x509 as a second strict parser and verifier (go/verify.go), built once per test
// file. Without a Go toolchain the Go checks are skipped, unless TESSERA_REQUIRE_GO=1 (set by
// .ci/run, which installs Debian's golang-go): then a missing toolchain fails the test.

import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { writeFiles } from './helpers.ts';

const run = promisify(execFile);

export interface GoResult {
  parsed: boolean;
  parseError?: string;
  subject?: string;
  uris: string[] | null;
  dnsNames: string[] | null;
  ipAddresses: string[] | null;
  emails: string[] | null;
  isCA: boolean;
  keyUsage: number;
  serialBits: number;
  /** `ok` or Go's verification error. */
  serverAuth: string;
  clientAuth: string;
}

export interface GoVerifyInput {
  bundlePem: string;
  /** Every certificate between the leaf and a root of the bundle. */
  intermediatesPem: string;
  leafPem: string;
  /** Milliseconds since the epoch: the time to verify at. */
  at: number;
  /** Checked against the certificate for server use when given. */
  dnsName?: string;
}

export type GoVerifier = (dir: string, input: GoVerifyInput) => Promise<GoResult>;

function goEnvironment(): NodeJS.ProcessEnv {
  // `go` needs a build cache; a test environment may have neither HOME nor XDG_CACHE_HOME.
  if (process.env.GOCACHE || process.env.HOME || process.env.XDG_CACHE_HOME) return process.env;
  return { ...process.env, GOCACHE: join(tmpdir(), 'tessera-go-cache') };
}

/** Builds go/verify.go; null (the test skipped) when Go is missing and not required. */
export async function buildGoVerifier(t: TestContext): Promise<GoVerifier | null> {
  const out = join(await mkdtemp(join(tmpdir(), 'tessera-go-')), 'verify');
  const env = goEnvironment();
  try {
    await run('go', ['build', '-o', out, join(import.meta.dirname, 'go', 'verify.go')], { env, cwd: tmpdir() });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (process.env.TESSERA_REQUIRE_GO === '1') throw new Error('TESSERA_REQUIRE_GO=1 but no `go` on PATH: install golang-go', { cause: error });
    t.skip('no Go toolchain (apt-get install golang-go); the openssl checks still run');
    return null;
  }
  return async (dir, input) => {
    const files = await writeFiles(dir, { 'go-bundle.pem': input.bundlePem, 'go-intermediates.pem': input.intermediatesPem, 'go-leaf.pem': input.leafPem });
    const args = [files['go-bundle.pem'] ?? '', files['go-intermediates.pem'] ?? '', files['go-leaf.pem'] ?? '', String(Math.floor(input.at / 1000))];
    if (input.dnsName !== undefined) args.push(input.dnsName);
    const { stdout } = await run(out, args);
    return JSON.parse(stdout) as GoResult;
  };
}

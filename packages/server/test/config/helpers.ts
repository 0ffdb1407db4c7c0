import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { ConfigSources } from '../../src/config/load.ts';
import type { Config } from '../../src/config/config.ts';

export const KEY = Buffer.alloc(32, 7).toString('base64');

const root = mkdtempSync(join(tmpdir(), 'tessera-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

export function tempDir(): string {
  return mkdtempSync(join(root, 'case-'));
}

/** Writes `content` (JSON-encoded unless already a string) to a fresh directory; returns its path. */
export function configFile(content: unknown, name = 'tessera.json'): string {
  const path = join(tempDir(), name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

export function load(sources: Partial<ConfigSources> = {}): Config {
  return loadConfig({ flags: {}, env: {}, cwd: '/srv/app', ...sources });
}

export function problemsOf(sources: Partial<ConfigSources>): readonly string[] {
  try {
    load(sources);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.message, error.problems.join('\n'));
    return error.problems;
  }
  assert.fail('expected loadConfig to throw');
}

/** The single problem reported for `sources`. */
export function problemOf(sources: Partial<ConfigSources>): string {
  const problems = problemsOf(sources);
  assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join('\n')}`);
  return problems[0]!;
}

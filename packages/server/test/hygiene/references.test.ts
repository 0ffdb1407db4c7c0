// The repository explains itself: code, help text, error messages and docs cite an RFC, a page
// under docs/ or the rule itself, never a document that is not in the repository (an outside
// contract's section numbers, a path beside the checkout, or the source notes the project was
// started from). This scan keeps such citations from coming back. It skips this file, whose
// planted examples are exactly what it looks for.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');
const SELF = import.meta.filename;

/** What may not be cited, each with a name for the report. */
const FORBIDDEN: ReadonlyArray<readonly [string, RegExp]> = [
  ['a section of an outside contract', /\bSPEC\s*§/],
  ['a numbered section of an outside contract', /\bSPEC\s+\d/],
  ['the outside contract by name', /\bSPEC\.md\b|\bthe SPEC\b/],
  ['a path beside the checkout', /\.\.\/shared\b|\/work\/shared\b/],
  ['a source note by number', /\bseed[ _-]?0\d\d\b/i],
];

/** Directories and files scanned, relative to the repository root; directories recursively. */
function scannedFiles(): string[] {
  const roots = ['docs', 'deploy', 'bench', 'examples', 'README.md', 'eslint.config.js', 'tsconfig.json'];
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    for (const part of ['src', 'bin', 'test', 'web', 'README.md']) roots.push(join('packages', pkg, part));
  }
  const files: string[] = [];
  for (const root of roots) {
    const path = join(ROOT, root);
    if (!existsSync(path)) continue;
    if (statSync(path).isFile()) {
      files.push(path);
      continue;
    }
    for (const entry of readdirSync(path, { recursive: true, encoding: 'utf8' })) {
      if (entry.split(/[\\/]/).includes('node_modules')) continue;
      const file = join(path, entry);
      if (file !== SELF && statSync(file).isFile()) files.push(file);
    }
  }
  return files;
}

/** Each forbidden citation in `text` (or in the file's own name), as `line: what: excerpt`. */
function findCitations(name: string, text: string): string[] {
  const found: string[] = [];
  for (const [what, pattern] of FORBIDDEN) if (pattern.test(name)) found.push(`file name: ${what}`);
  text.split('\n').forEach((line, index) => {
    for (const [what, pattern] of FORBIDDEN) {
      const match = pattern.exec(line);
      if (match) found.push(`${index + 1}: ${what}: ${line.trim().slice(0, 100)}`);
    }
  });
  return found;
}

describe('citations stay inside the repository', () => {
  it('finds each kind of outside citation, and passes what only looks like one', () => {
    const planted = [
      '// Scopes (SPEC §3.2): the short form',
      '-- Set only through that API (SPEC 4.3).',
      'description: see SPEC.md',
      "/** `<d>:role.<r>` (the SPEC's role name) */",
      'copied from /work/shared/seeds/x.txt',
      'import x from "../../shared/y"',
      "summary: 'Create a service account (seed 003 dialect)'",
      '// Seed 004 (the API Mediation Layer)',
      'the seed-003 API',
      'test/fixtures/seed_001.txt',
    ];
    for (const line of planted) assert.equal(findCitations('x.ts', line).length, 1, line);
    assert.equal(findCitations('test/fixtures/seed-003-client.cjs', '').length, 1, 'file names count');
    const clean = [
      'if (kind === INTROSPECTION_SPEC) return;',
      '// RFC 6749 §5.2: error_description is NQSCHAR',
      'const random = seededRandom(seed); // fast-check seed 1234',
      'await seed(t); seedSqlite(file, plan);',
      "// the service-account JSON dialect (docs/http-api.md, 'The service-account JSON dialect')",
    ];
    for (const line of clean) assert.deepEqual(findCitations('x.ts', line), [], line);
  });

  it('no source, test, bench, example or doc file cites a document outside the repository', () => {
    const files = scannedFiles();
    assert.ok(files.length > 300, `scanned only ${files.length} files: is ROOT right?`);
    const report: string[] = [];
    for (const file of files) {
      const name = relative(ROOT, file);
      for (const finding of findCitations(name, readFileSync(file, 'utf8'))) report.push(`${name}:${finding}`);
    }
    assert.deepEqual(report, [], `cite an RFC, a page under docs/ or the rule itself instead:\n${report.join('\n')}`);
  });
});

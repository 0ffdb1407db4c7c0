#!/usr/bin/env node
// The `tessera` command as npm links it (package.json "bin"). Plain JavaScript that any Node.js
// still parses, so that one too old for Tessera says which version it needs in one line: the
// command itself would die with a stack trace while loading its modules (node:sqlite and other
// newer built-ins, or a `.ts` file it cannot run). Then it hands over to bin/tessera.ts: in the
// repository, its TypeScript source, run by Node's type stripping; in the installed package,
// which ships no TypeScript, the JavaScript built from it into dist/.
import { existsSync } from 'node:fs';

// Keep in step with "engines" in package.json (test/packed.test.ts checks).
const REQUIRED = '22.13.0';

const source = new URL('./tessera.ts', import.meta.url);
const problem = tooOld(process.versions.node, REQUIRED)
  ? 'tessera needs Node.js ' + REQUIRED + ' or newer; this is Node.js ' + process.version + ' (' + process.execPath + ')'
  : existsSync(source) && !(process.features && process.features.typescript)
    ? 'tessera runs from its TypeScript sources here and needs a Node.js that strips types (Node.js 24, as `npx tessera` runs); this is ' + process.version + ' (' + process.execPath + ')'
    : undefined;

if (problem !== undefined) {
  process.stderr.write(problem + '\n');
  process.exitCode = 1;
} else {
  import(existsSync(source) ? source.href : '../dist/bin/tessera.js');
}

function tooOld(version, required) {
  const have = version.split('.').map(Number);
  const need = required.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    if ((have[i] || 0) !== need[i]) return (have[i] || 0) < need[i];
  }
  return false;
}

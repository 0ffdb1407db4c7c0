#!/usr/bin/env node
// The `tessera` command as npm links it (package.json "bin"). Plain JavaScript that any Node.js
// still parses, so that one Tessera does not run on says which it needs, in one line: the command
// itself would die with a stack trace while loading its modules (node:sqlite, newer built-ins, or
// a `.ts` file it cannot run), or worse, `serve` would hang (see docs/packages.md for why these
// versions). Then it hands over to bin/tessera.ts: in the repository, its TypeScript source, run
// by Node's type stripping; in the installed package, which ships no TypeScript, the JavaScript
// built from it into dist/.
import { existsSync } from 'node:fs';

// The same string as "engines" in package.json (test/packed-install.test.ts keeps them in step):
// `^X.Y.Z` is X.Y.Z and later releases of major X, `>=X.Y.Z` everything from X.Y.Z on.
const ENGINES = '^22.18.0 || >=24.3.0';

const source = new URL('./tessera.ts', import.meta.url);
const problem = !supported(process.versions.node, ENGINES)
  ? 'tessera needs Node.js ' + describe(ENGINES) + '; this is Node.js ' + process.version + ' (' + process.execPath + ')'
  : existsSync(source) && !(process.features && process.features.typescript)
    ? 'tessera runs from its TypeScript sources here and needs a Node.js that strips types (Node.js 24, as `npx tessera` runs); this is ' +
      process.version +
      ' (' +
      process.execPath +
      ')'
    : undefined;

if (problem !== undefined) {
  process.stderr.write(problem + '\n');
  process.exitCode = 1;
} else {
  import(existsSync(source) ? source.href : '../dist/bin/tessera.js');
}

function ranges(engines) {
  return engines.split('||').map((part) => {
    const match = /^\s*(\^|>=)(\d+)\.(\d+)\.(\d+)\s*$/.exec(part);
    return { sameMajor: match[1] === '^', from: [Number(match[2]), Number(match[3]), Number(match[4])] };
  });
}

function supported(version, engines) {
  const have = version.split('.').map(Number);
  return ranges(engines).some((range) => (!range.sameMajor || have[0] === range.from[0]) && !older(have, range.from));
}

function older(have, from) {
  for (let i = 0; i < from.length; i++) {
    if ((have[i] || 0) !== from[i]) return (have[i] || 0) < from[i];
  }
  return false;
}

function describe(engines) {
  return ranges(engines)
    .map((range) => range.from.join('.') + (range.sameMajor ? ' or a later ' + range.from[0] + '.x' : ' or later'))
    .join(', or ');
}

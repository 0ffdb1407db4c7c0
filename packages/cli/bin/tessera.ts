#!/usr/bin/env node
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { useCompileCache } from '../src/compile-cache.ts';
import { restartWithServeFlags } from '../src/serve-flags.ts';

// Run as TypeScript, this is the repository's own command, and the workspace packages it imports
// by name (`serve` loads @tessera/server) must come from their sources too: their exports send the
// `tessera-source` condition to src/ and everyone else to the JavaScript in dist/, which a
// checkout does not build. Built into dist/bin/tessera.js (the installed command) it leaves module
// resolution alone. A namespace import: registerHooks is missing before Node 22.15, and a named
// import of it would stop the built command from loading at all there.
if (import.meta.url.endsWith('.ts')) {
  nodeModule.registerHooks({
    resolve: (specifier, context, nextResolve) => nextResolve(specifier, { ...context, conditions: [...context.conditions, 'tessera-source'] }),
  });
}
// Compiled modules are kept for the next start (compile-cache.ts); before the re-execution, so the
// server it starts inherits the cache.
useCompileCache(process, process.env['HOME'] ?? safeHomedir());
// Before anything else is loaded: `tessera serve` starts again with its V8 flags (serve-flags.ts).
restartWithServeFlags(process);

const { processIo, run } = await import('../src/main.ts');
// exitCode rather than process.exit(): stdout may still be draining into a pipe.
process.exitCode = await run(process.argv.slice(2), processIo());

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

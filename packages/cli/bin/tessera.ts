#!/usr/bin/env node
import { homedir } from 'node:os';
import { useCompileCache } from '../src/compile-cache.ts';
import { restartWithServeFlags } from '../src/serve-flags.ts';

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

#!/usr/bin/env node
import { restartWithServeFlags } from '../src/serve-flags.ts';

// Before anything else is loaded: `tessera serve` starts again with its V8 flags (serve-flags.ts).
restartWithServeFlags(process);

const { processIo, run } = await import('../src/main.ts');
// exitCode rather than process.exit(): stdout may still be draining into a pipe.
process.exitCode = await run(process.argv.slice(2), processIo());

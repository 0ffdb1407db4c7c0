#!/usr/bin/env node
import { processIo, run } from '../src/main.ts';

// exitCode rather than process.exit(): stdout may still be draining into a pipe.
process.exitCode = await run(process.argv.slice(2), processIo());

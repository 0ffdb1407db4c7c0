// Runs one Tessera for a benchmark in its own process, so the load generator never shares
// its event loop. Prints the URL on stdout once listening.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, loadConfig } from '../packages/server/src/index.ts';

const port = process.argv[2] ?? '0';
const database = process.argv[3];
const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
const config = loadConfig({
  flags: { dataDir, listen: `http://127.0.0.1:${port}`, logLevel: 'warn', database },
  env: database ? { TESSERA_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') } : {},
  cwd: dataDir,
});
const server = await createServer(config);
const url = await server.listen();
process.stdout.write(`${JSON.stringify({ url, dataDir })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});

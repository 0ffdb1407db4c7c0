// Tessera as the benchmark runs it: plain HTTP on loopback (so the figure is the token work,
// not TLS, as for the other servers), settings from the TESSERA_* environment the harness
// sets (rate limits, token reuse, master key), the data dir and database it created.

import { createServer, loadConfig } from '../../packages/server/src/index.ts';
import { serve, serverArgs } from './cluster.ts';

interface TesseraArgs {
  port: number;
  processes: number;
  dataDir: string;
  /** A postgres:// URL; the embedded SQLite when absent. */
  database?: string;
}

const args = serverArgs<TesseraArgs>();

await serve({
  processes: args.processes,
  async start() {
    const config = loadConfig({
      flags: { dataDir: args.dataDir, listen: `http://127.0.0.1:${args.port}`, logLevel: 'warn', database: args.database },
      env: process.env,
      cwd: args.dataDir,
    });
    const server = await createServer(config);
    await server.listen();
    return server;
  },
});

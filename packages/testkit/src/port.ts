// A free loopback port, for a test that must name its port before a server listens on it (a
// child process told `--listen`, a config written ahead, a cluster's peer list).

import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 now; another process may take it before the caller does. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

// One worker process of `tessera serve --workers N` (cluster/primary.ts forks it): the whole
// server, built by createServer like a single process, that never listens itself. The primary
// sends each accepted connection as a socket handle; emitting it as the server's 'connection'
// lets Node's HTTP or TLS server take it as if it had accepted it (TLS handshake, client
// certificates, socket.remoteAddress all as before).

import type { Socket } from 'node:net';
import { createServer, type TesseraServer } from '../server.ts';
import { configFromWire, isMessage, type FromWorker, type ToWorker } from './messages.ts';

const send = (message: FromWorker): void => {
  process.send?.(message);
};

let server: TesseraServer | null = null;
let stopping: Promise<void> | null = null;
const open = new Set<Socket>();

process.on('message', (message: unknown, handle: unknown) => {
  if (!isMessage<ToWorker>(message)) return;
  if (message.type === 'connection') accept(handle as Socket | undefined);
  else if (message.type === 'start') void start(message);
  else if (message.type === 'shutdown') void stop();
  else if (message.type === 'reload-tls') void server?.reloadTls();
});
// Each worker serves TLS itself and watches the certificate files on its own; a SIGHUP sent to
// the whole process group (the primary also tells every worker) must not end it.
process.on('SIGHUP', () => void server?.reloadTls());
// Ctrl-C reaches the whole process group: the primary decides, and tells each worker to drain.
process.on('SIGINT', () => undefined);
// A worker stopped on its own drains like at shutdown; the primary starts it again.
process.on('SIGTERM', () => void stop());

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  try {
    server = await createServer(configFromWire(message.config), { ownsTimers: message.ownsTimers, worker: message.worker });
    // Node starts its header and request timeout checks when a server starts listening; this
    // one never does, so it is told it did (the primary holds the real listening socket).
    server.app.server.emit('listening');
    server.start();
    send({ type: 'ready', wroteBootstrapCredential: server.bootstrapCredentialFile !== null });
  } catch (error) {
    const failed: FromWorker = { type: 'failed', message: error instanceof Error ? error.message : String(error) };
    if (process.send) process.send(failed, () => process.exit(1));
    else process.exit(1);
  }
}

function accept(socket: Socket | undefined): void {
  if (socket === undefined) return;
  if (server === null || stopping !== null) {
    socket.destroy();
    return;
  }
  open.add(socket);
  socket.once('close', () => open.delete(socket));
  server.app.server.emit('connection', socket);
}

/** Lets requests in flight finish (idle keep-alive connections are closed), then closes the server: its audit is written. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    if (server !== null) {
      const http = server.app.server;
      const deadline = Date.now() + server.config.connections.requestTimeout * 1000;
      while (open.size > 0 && Date.now() < deadline) {
        http.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      http.closeAllConnections();
      await server.close();
    }
    process.exit(0);
  })();
  return stopping;
}

// A loopback TCP proxy in front of the test PostgreSQL, so a test can take the database away
// from one Tessera without touching the real server, which other tests are using.
//
//   cut()       like a stopped server: open connections are reset, new ones refused
//               (the port stops listening, so a connect fails with ECONNREFUSED).
//   blackhole() like a hung server or a dropped network: connections stay open, new ones are
//               accepted, and nothing is ever answered in either direction.
//   restore()   forwards again; connections made before are not revived.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '@tessera/testkit/port';

export interface TcpProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  cut(): Promise<void>;
  blackhole(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

type Mode = 'forward' | 'blackhole' | 'cut';

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const state: { mode: Mode; server: Server | null } = { mode: 'forward', server: null };

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset is the point of the exercise, not a failure of the proxy.
    socket.on('error', () => {});
  };

  const onConnection = (client: Socket): void => {
    track(client);
    if (state.mode === 'cut') {
      // Accepted just as the port closed.
      client.resetAndDestroy();
      return;
    }
    if (state.mode === 'blackhole') {
      client.pause();
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    const pair = [client, upstream] as const;
    for (const [from, to] of [pair, [upstream, client] as const]) {
      from.on('data', (chunk: Buffer) => {
        // In a blackhole the bytes vanish; the peers see a silent connection, not a closed one.
        if (state.mode === 'forward') to.write(chunk);
      });
      from.on('close', () => {
        if (state.mode === 'forward') to.destroy();
      });
    }
  };

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const server = createServer(onConnection);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        state.server = server;
        resolve();
      });
    });

  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const server = state.server;
      state.server = null;
      if (server === null) resolve();
      else server.close(() => resolve());
    });

  const resetAll = (): void => {
    for (const socket of sockets) socket.resetAndDestroy();
    sockets.clear();
  };

  await listen();
  return {
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    async cut() {
      state.mode = 'cut';
      const stopped = stopListening();
      resetAll();
      await stopped;
    },
    blackhole() {
      state.mode = 'blackhole';
      for (const socket of sockets) socket.pause();
    },
    async restore() {
      // Connections held through a blackhole are dropped: their protocol state is lost.
      resetAll();
      state.mode = 'forward';
      if (state.server === null) await listen();
    },
    async close() {
      state.mode = 'cut';
      const stopped = stopListening();
      resetAll();
      await stopped;
    },
  };
}

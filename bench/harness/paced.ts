// An open-loop load generator for latency at a given rate. Requests are due at even intervals
// (sent on a 1 ms tick) and each latency counts from when its request was due, so a server
// that stalls cannot hide it by slowing the generator down (coordinated omission): a request
// that finds every connection busy waits in a queue, and that wait is part of its latency.
//
// It speaks HTTP/1.1 over raw keep-alive sockets with one pre-built request, as autocannon
// does, because node:http's client costs enough CPU to be the bottleneck at a few thousand
// requests per second on a two-core machine.

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface PacedTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface PacedResult {
  latencies: number[];
  failures: Record<string, number>;
  elapsedSeconds: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

/** Keep-alive connections to one origin, each carrying one request at a time. */
export class ConnectionPool {
  private readonly request: Buffer;
  private readonly host: string;
  private readonly port: number;
  private readonly idle: Connection[] = [];
  private readonly waiting: number[] = [];
  private onSettled: (due: number, outcome: string) => void = () => {};

  constructor(target: PacedTarget, size: number) {
    const url = new URL(target.url);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    const headers = Object.entries({ ...target.headers, host: url.host, 'content-length': String(Buffer.byteLength(target.body)), connection: 'keep-alive' })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    this.request = Buffer.from(`POST ${url.pathname}${url.search} HTTP/1.1\r\n${headers}\r\n${target.body}`);
    for (let i = 0; i < size; i += 1) this.idle.push(this.open());
  }

  /** Sends the requests due at `due` times: now if a connection is free, else when one is. */
  send(due: number): void {
    const connection = this.idle.pop();
    if (connection) connection.send(due);
    else this.waiting.push(due);
  }

  settle(handler: (due: number, outcome: string) => void): void {
    this.onSettled = handler;
  }

  close(): void {
    for (const connection of this.idle) connection.socket.destroy();
  }

  private open(): Connection {
    const connection = new Connection(connect(this.port, this.host), this.request, (due, outcome, reusable) => {
      this.onSettled(due, outcome);
      // A broken connection was busy, so it is in no list: a fresh one takes its place.
      const next = reusable ? connection : this.open();
      const queued = this.waiting.shift();
      if (queued !== undefined) next.send(queued);
      else this.idle.push(next);
    });
    return connection;
  }
}

class Connection {
  readonly socket: Socket;
  private readonly request: Buffer;
  private buffered: Buffer = Buffer.alloc(0);
  private due: number | undefined;

  constructor(socket: Socket, request: Buffer, done: (due: number, outcome: string, reusable: boolean) => void) {
    this.socket = socket;
    this.request = request;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      const status = this.complete();
      if (status === undefined || this.due === undefined) return;
      const due = this.due;
      this.due = undefined;
      done(due, status, true);
    });
    const broken = (reason: string): void => {
      socket.destroy();
      if (this.due === undefined) return;
      const due = this.due;
      this.due = undefined;
      done(due, reason, false);
    };
    socket.on('error', (error: NodeJS.ErrnoException) => broken(error.code ?? error.name));
    socket.on('close', () => broken('closed'));
  }

  send(due: number): void {
    this.due = due;
    this.socket.write(this.request);
  }

  /** The status code once a whole response is buffered (and consumed), else undefined. */
  private complete(): string | undefined {
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return undefined;
    const head = this.buffered.subarray(0, headerEnd).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let end: number;
    if (length) {
      end = headerEnd + HEADER_END.length + Number(length[1]);
      if (this.buffered.length < end) return undefined;
    } else {
      const last = this.buffered.indexOf(LAST_CHUNK, headerEnd);
      if (last < 0) return undefined;
      end = last + LAST_CHUNK.length;
    }
    this.buffered = this.buffered.subarray(end);
    return head.slice(9, 12);
  }
}

/** `rate` requests per second for `seconds`, over `pool`; resolves once every one has settled. */
export async function pacedRun(pool: ConnectionPool, rate: number, seconds: number): Promise<PacedResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let settled = 0;
    pool.settle((due, outcome) => {
      if (outcome.startsWith('2')) latencies.push(performance.now() - due);
      else failures[outcome] = (failures[outcome] ?? 0) + 1;
      settled += 1;
      if (settled === total) resolve();
    });
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      for (; sent < due; sent += 1) pool.send(start + sent * interval);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  return { latencies, failures, elapsedSeconds: (performance.now() - start) / 1000 };
}

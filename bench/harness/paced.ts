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

/** How a request ended: when it was due, its status code or error name, and its body when it came with a length. */
export type Settled = (due: number, outcome: string, body?: Buffer) => void;

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
  private readonly maxWaitMs: number;
  private onSettled: Settled = () => {};

  /**
   * `maxWaitMs`: a request that waited this long for a free connection is not sent but settles
   * as `queued too long`, as a client that gave up would; without it, a generator that fell
   * behind would only ever send requests already given up on.
   */
  constructor(target: PacedTarget, size: number, maxWaitMs = Infinity) {
    this.maxWaitMs = maxWaitMs;
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
    if (!connection) this.waiting.push(due);
    // The server closes a connection left idle past its keep-alive timeout; a request written
    // to it would never settle.
    else (connection.closed ? this.open() : connection).send(due);
  }

  settle(handler: Settled): void {
    this.onSettled = handler;
  }

  close(): void {
    for (const connection of this.idle) connection.socket.destroy();
  }

  private nextQueued(): number | undefined {
    for (let due = this.waiting.shift(); due !== undefined; due = this.waiting.shift()) {
      if (performance.now() - due <= this.maxWaitMs) return due;
      this.onSettled(due, 'queued too long');
    }
    return undefined;
  }

  private open(): Connection {
    const connection = new Connection(connect(this.port, this.host), this.request, (due, outcome, reusable, body) => {
      this.onSettled(due, outcome, body);
      // A broken connection was busy, so it is in no list: a fresh one takes its place.
      const next = reusable ? connection : this.open();
      const queued = this.nextQueued();
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

  constructor(socket: Socket, request: Buffer, done: (due: number, outcome: string, reusable: boolean, body?: Buffer) => void) {
    this.socket = socket;
    this.request = request;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      const response = this.complete();
      if (response === undefined || this.due === undefined) return;
      const due = this.due;
      this.due = undefined;
      done(due, response.status, true, response.body);
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

  get closed(): boolean {
    return this.socket.destroyed || !this.socket.writable;
  }

  send(due: number): void {
    this.due = due;
    this.socket.write(this.request);
  }

  /**
   * The status code once a whole response is buffered (and consumed), else undefined; with the
   * body (a view, not a copy) when it came with a content-length.
   */
  private complete(): { status: string; body?: Buffer } | undefined {
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return undefined;
    const head = this.buffered.subarray(0, headerEnd).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let end: number;
    let body: Buffer | undefined;
    if (length) {
      end = headerEnd + HEADER_END.length + Number(length[1]);
      if (this.buffered.length < end) return undefined;
      body = this.buffered.subarray(headerEnd + HEADER_END.length, end);
    } else {
      const last = this.buffered.indexOf(LAST_CHUNK, headerEnd);
      if (last < 0) return undefined;
      end = last + LAST_CHUNK.length;
    }
    this.buffered = this.buffered.subarray(end);
    return { status: head.slice(9, 12), body };
  }
}

/** What the pacer needs of a pool: one origin's ConnectionPool, or several taking turns. */
export interface Pool {
  send(due: number): void;
  settle(handler: Settled): void;
  close(): void;
}

/** Several origins (separate server instances), each request going to the next in turn. */
export class RoundRobin implements Pool {
  private readonly pools: ConnectionPool[];
  private next = 0;

  constructor(pools: ConnectionPool[]) {
    this.pools = pools;
  }

  send(due: number): void {
    this.pools[this.next]!.send(due);
    this.next = (this.next + 1) % this.pools.length;
  }

  settle(handler: Settled): void {
    for (const pool of this.pools) pool.settle(handler);
  }

  close(): void {
    for (const pool of this.pools) pool.close();
  }
}

/** `rate` requests per second for `seconds`, over `pool`; resolves once every one has settled. */
export async function pacedRun(pool: Pool, rate: number, seconds: number): Promise<PacedResult> {
  const total = Math.round(rate * seconds);
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
    void sendPaced(pool, rate, total, start);
  });
  return { latencies, failures, elapsedSeconds: (performance.now() - start) / 1000 };
}

/**
 * Sends `total` requests over `pool`, due `1000 / rate` ms apart from `start` (a 1 ms tick sends
 * whatever has fallen due); resolves once the last one is sent. The pool's settle handler sees
 * the answers.
 */
export function sendPaced(pool: Pool, rate: number, total: number, start: number = performance.now()): Promise<void> {
  const interval = 1000 / rate;
  return new Promise((resolve) => {
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      for (; sent < due; sent += 1) pool.send(start + sent * interval);
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
}

// Small pieces for bounded load in end-to-end tests: loops that run until a deadline, a tally of
// outcomes by name, and a POST over a caller's agent that reads the whole answer.

import { request, type Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** Counts outcomes by name: `ok`, an error code, `status 401`, … */
export class Tally {
  readonly counts = new Map<string, number>();

  add(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }

  get(outcome: string): number {
    return this.counts.get(outcome) ?? 0;
  }

  /** Everything but `ok`, as an object (what a failed assertion should show). */
  failures(): Record<string, number> {
    return Object.fromEntries([...this.counts].filter(([outcome]) => outcome !== 'ok'));
  }

  toString(): string {
    return [...this.counts].map(([outcome, count]) => `${outcome}=${count}`).join(' ') || 'none';
  }
}

/** Runs `loops` copies of `body` back to back until `until` (ms since the epoch). */
export async function runUntil(until: number, loops: number, body: (loop: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      while (Date.now() < until) await body(loop);
    }),
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves at `at` (ms since the epoch), at once if that has passed. */
export const sleepUntil = (at: number): Promise<void> => sleep(Math.max(0, at - Date.now()));

/** Calls `read` until `done` holds of its answer or `timeoutMs` has passed; returns the last answer. */
export async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() >= deadline) return value;
    await sleep(100);
  }
}

export interface Answer {
  status: number;
  body: string;
  socket: TLSSocket;
}

/** One HTTPS request over `agent`; rejects on a network or TLS error. */
export function httpsCall(url: string, agent: Agent, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), socket: res.socket as TLSSocket }));
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The error's `code` when it has one (ECONNRESET, ERR_SSL_…, AUTH_105), else its name. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : String(error);
}

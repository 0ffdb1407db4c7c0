// The primary's few log lines, in the same JSON line shape as the workers' (pino's), so that
// one log pipeline reads both. The primary loads neither fastify nor pino: it stays small.

import { hostname } from 'node:os';
import type { Config } from '../config/config.ts';
import { prettyStream } from '../lib/log-format.ts';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

export interface PrimaryLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export function primaryLog(
  level: Config['logLevel'],
  output: { write(line: string): void } = process.stdout,
  format: Config['logFormat'] = 'json',
): PrimaryLog {
  const stream = format === 'pretty' ? prettyStream(output) : output;
  const threshold = LEVELS[level];
  const host = hostname();
  const line =
    (value: number) =>
    (details: object, message: string): void => {
      if (value < threshold) return;
      stream.write(`${JSON.stringify({ level: value, time: Date.now(), pid: process.pid, hostname: host, ...details, msg: message })}\n`);
    };
  return { info: line(LEVELS.info), warn: line(LEVELS.warn), error: line(LEVELS.error) };
}

// Parsers for single setting values. Each returns the value or a problem phrased as
// "expected …, got …"; load.ts prefixes the source, so the message reads
// `--listen: expected a URL like …, got "foo"`.

import { join } from 'node:path';
import { MASTER_KEY_BYTES } from '../keys/master-key.ts';
import { describeNameRule, isDomainName } from '../policy/names.ts';
import type { Config } from './config.ts';
import { redactDatabaseUrl } from './describe.ts';
import { closest } from './did-you-mean.ts';

export type Parsed<T> = { value: T } | { problem: string };

export function got(value: unknown): string {
  if (typeof value === 'string') return `got ${JSON.stringify(value)}`;
  if (Array.isArray(value)) return 'got an array';
  if (typeof value === 'object' && value !== null) return 'got an object';
  return `got ${String(value)}`;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const DURATION = /^(\d+)([smhd])?$/;

/** Whole seconds from a number (`3600`) or a string (`"3600"`, `"90s"`, `"15m"`, `"1h"`, `"30d"`). */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value);
  if (match === null) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS];
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** The largest unit that divides evenly: 86400 → "1d", 90 → "90s". */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (seconds > 0 && seconds % UNIT_SECONDS[unit] === 0) return `${seconds / UNIT_SECONDS[unit]}${unit}`;
  }
  return `${seconds}s`;
}

export function durationParser(options: { min: number; max?: { seconds: number; why: string } }): (value: unknown) => Parsed<number> {
  return (value) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      return {
        problem: `expected a duration: whole seconds (3600) or a whole number with a unit s, m, h or d ("90s", "15m", "1h", "30d"), ${got(value)}`,
      };
    }
    if (seconds < options.min) {
      return { problem: `expected a duration of at least ${formatDuration(options.min)}, ${got(value)}` };
    }
    if (options.max !== undefined && seconds > options.max.seconds) {
      return {
        problem: `expected a duration of at most ${formatDuration(options.max.seconds)} (${options.max.why}), ${got(value)}`,
      };
    }
    return { value: seconds };
  };
}

export function parseByteCount(value: unknown): Parsed<number> {
  const bytes = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes > 0) return { value: bytes };
  return { problem: `expected a positive whole number of bytes, ${got(value)}` };
}

export function oneOfParser<const T extends string>(allowed: readonly T[]): (value: unknown) => Parsed<T> {
  return (value) => {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return { value: value as T };
    const near = typeof value === 'string' ? closest(value, allowed) : undefined;
    return { problem: `expected one of ${allowed.join(', ')}, ${got(value)}${near === undefined ? '' : ` (did you mean ${near}?)`}` };
  };
}

export function parsePath(value: unknown): Parsed<string> {
  if (typeof value === 'string' && value !== '') return { value };
  return { problem: `expected a file system path, ${got(value)}` };
}

const LISTEN_EXAMPLE = 'a URL like https://127.0.0.1:8443 or http://127.0.0.1:8080';

export function parseListen(value: unknown): Parsed<URL> {
  const expected = (why?: string): Parsed<URL> => ({
    problem: `expected ${LISTEN_EXAMPLE}, ${got(value)}${why === undefined ? '' : ` (${why})`}`,
  });
  if (typeof value !== 'string') return expected();
  const url = URL.parse(value);
  if (url === null) return expected();
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return expected('only http and https can be served');
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return expected('only a scheme, host and port: no path, query or user');
  }
  // URL drops a port equal to the scheme's default, so `https://host:443` is told apart from
  // `https://host` by the text.
  if (url.port === '' && !/:\d+\/?$/.test(value.trim())) return expected('the port is missing');
  if (url.port === '0') return expected('the port must be between 1 and 65535');
  return { value: url };
}

/** The listen port, also when URL hides it for being the scheme's default (443, 80). */
export function listenPort(listen: URL): number {
  if (listen.port !== '') return Number(listen.port);
  return listen.protocol === 'https:' ? 443 : 80;
}

/** RFC 8414 §2: an issuer is an https URL without query or fragment. */
export function issuerParser(allowHttp: boolean): (value: unknown) => Parsed<string> {
  const expected = allowHttp ? 'an https:// or http:// URL' : 'an https:// URL (http:// only when listening on http)';
  return (value) => {
    const url = typeof value === 'string' ? URL.parse(value) : null;
    const schemeAllowed = url !== null && (url.protocol === 'https:' || (allowHttp && url.protocol === 'http:'));
    if (url === null || !schemeAllowed || url.hostname === '') return { problem: `expected ${expected}, ${got(value)}` };
    if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      return { problem: `expected ${expected} without query, fragment or user, ${got(value)}` };
    }
    // Endpoint URLs are the issuer plus a path; a trailing slash would advertise `//oauth2/token`.
    if ((value as string).endsWith('/')) return { problem: `expected ${expected} without a trailing slash, ${got(value)}` };
    return { value: value as string };
  };
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** Missing or `sqlite` is the embedded database in the data directory. */
export function databaseParser(dataDir: string): (value: unknown) => Parsed<Config['database']> {
  return (value) => {
    if (value === undefined || value === 'sqlite') return { value: { kind: 'sqlite', path: join(dataDir, 'tessera.db') } };
    if (typeof value === 'string' && POSTGRES_URL.test(value) && URL.canParse(value)) {
      return { value: { kind: 'postgres', url: value } };
    }
    const shown = typeof value === 'string' ? `got ${JSON.stringify(redactDatabaseUrl(value))}` : got(value);
    return { problem: `expected "sqlite" or a URL like postgres://user:password@host:5432/tessera, ${shown}` };
  };
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Checked here so a wrong key is reported with every other problem; never echoed, it is a secret. */
export function parseMasterKeyValue(value: string): Parsed<string> {
  const text = value.trim();
  if (BASE64.test(text) && Buffer.from(text, 'base64url').length === MASTER_KEY_BYTES) return { value };
  return {
    problem: `expected ${MASTER_KEY_BYTES} random bytes, base64-encoded (as \`openssl rand -base64 ${MASTER_KEY_BYTES}\` prints); the value set is not (it is not shown, being a secret)`,
  };
}

/** A whole number from a number or a numeric string; `min` 0 lets a rate turn a limit off. */
export function wholeNumberParser(min: number): (value: unknown) => Parsed<number> {
  return (value) => {
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number === 'number' && Number.isSafeInteger(number) && number >= min) return { value: number };
    return { problem: `expected a whole number of at least ${min}, ${got(value)}` };
  };
}

/** More workers than this is a typo: each holds its own database connections and memory. */
export const MAX_WORKERS = 256;

/** `auto` (one per core, as `os.availableParallelism()` counts them) or a whole number from 1 to MAX_WORKERS. */
export function workersParser(cores: () => number): (value: unknown) => Parsed<number> {
  return (value) => {
    if (value === 'auto') return { value: Math.min(Math.max(1, cores()), MAX_WORKERS) };
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number === 'number' && Number.isSafeInteger(number) && number >= 1 && number <= MAX_WORKERS) return { value: number };
    return {
      problem: `expected "auto" (one worker process per core) or a whole number of worker processes from 1 to ${MAX_WORKERS}, ${got(value)}`,
    };
  };
}

export function parseBoolean(value: unknown): Parsed<boolean> {
  if (value === true || value === 'true' || value === '1' || value === 'on') return { value: true };
  if (value === false || value === 'false' || value === '0' || value === 'off') return { value: false };
  return { problem: `expected true or false, ${got(value)}` };
}

/** CIDR blocks as a JSON array or, from the environment, a comma-separated list. */
export function cidrListParser(check: (cidr: string) => string | null): (value: unknown) => Parsed<string[]> {
  return (value) => {
    const list =
      typeof value === 'string'
        ? value
            .split(',')
            .map((item) => item.trim())
            .filter((item) => item !== '')
        : value;
    if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
      return { problem: `expected CIDR blocks such as ["10.0.0.0/8", "::1/128"] (comma-separated in the environment), ${got(value)}` };
    }
    for (const cidr of list as string[]) {
      const problem = check(cidr);
      if (problem !== null) return { problem: `expected CIDR blocks: ${problem}` };
    }
    return { value: list as string[] };
  };
}

/** An optional http(s) URL; unset is null. */
export function parseOptionalUrl(value: unknown): Parsed<string | null> {
  if (value === undefined || value === null || value === '') return { value: null };
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return { problem: `expected an http(s) URL such as https://alerts.example.com/hook, ${got(value)}` };
  }
  return { value: url.toString() };
}

export function domainNameParser(value: unknown): Parsed<string> {
  if (typeof value === 'string' && isDomainName(value)) return { value };
  return { problem: `expected a domain name (${describeNameRule('domain')}), ${got(value)}` };
}

// Parsers for the values admin commands take: principals, role names, times, IP lists, role
// members and public keys. Each turns shell text into the wire shape of the admin API (docs/http-api.md) or throws
// commander's InvalidArgumentError, which becomes a one-line usage error.

import { createPublicKey } from 'node:crypto';
import { InvalidArgumentError } from 'commander';

import { UsageError } from '../errors.ts';
import { readInputFile } from '../files.ts';

export interface ServiceRef {
  domain: string;
  service: string;
}

export interface RoleRef {
  domain: string;
  role: string;
}

export interface MemberSpec {
  principal: string;
  expiresAt?: string;
}

export interface PublicKeySpec {
  kid: string;
  file: string;
}

/** `<domain>.<service>`: split at the last dot, since domains may hold dots and services not. */
export function parseServiceRef(value: string): ServiceRef {
  const dot = value.lastIndexOf('.');
  if (dot <= 0 || dot === value.length - 1) {
    throw new InvalidArgumentError(`expected <domain>.<service>, e.g. payments.api`);
  }
  return { domain: value.slice(0, dot), service: value.slice(dot + 1) };
}

/** `<domain>:role.<name>` (the full role name) or the short `<domain>:<name>`. */
export function parseRoleRef(value: string): RoleRef {
  const colon = value.indexOf(':');
  const domain = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  const role = rest.startsWith('role.') ? rest.slice('role.'.length) : rest;
  if (colon <= 0 || role === '') {
    throw new InvalidArgumentError('expected <domain>:role.<name>, e.g. payments:role.readers');
  }
  return { domain, role };
}

const DURATION = /^(\d+)([smhd])$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
// Date.parse accepts almost anything ("1" is the year 2001); only ISO 8601 is let through.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 time (a date-time without zone is UTC) or a duration like `30m`, `12h`, `90d`
 * counted from now: forwards for expiries, backwards for `--since`. Answers ISO 8601 in UTC.
 */
export function parseTime(value: string, now: number, direction: 'future' | 'past'): string {
  const duration = DURATION.exec(value);
  if (duration !== null) {
    const ms = Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
    return new Date(direction === 'future' ? now + ms : now - ms).toISOString();
  }
  const iso = ISO_TIME.exec(value);
  const hasTime = /[T ]/i.test(value);
  const text = iso !== null && hasTime && iso[1] === undefined ? `${value}Z` : value;
  const ms = iso === null ? Number.NaN : Date.parse(text.replace(' ', 'T'));
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError('expected an ISO 8601 time (2030-01-31T12:00:00Z) or a duration (30m, 12h, 90d)');
  }
  return new Date(ms).toISOString();
}

export const NEVER = 'never';

/**
 * Like parseTime, or NEVER to clear an expiry; the caller maps it to `null` (commander turns
 * an option parser's `null` into "").
 */
export function parseExpiry(value: string, now: number): string {
  return value.toLowerCase() === NEVER ? NEVER : parseTime(value, now, 'future');
}

/** `principal` or `principal@expiresAt`. */
export function parseMember(value: string, now: number): MemberSpec {
  const at = value.indexOf('@');
  const principal = at < 0 ? value : value.slice(0, at);
  if (principal === '') throw new InvalidArgumentError('expected <principal>[@<expiresAt>]');
  if (at < 0) return { principal };
  return { principal, expiresAt: parseTime(value.slice(at + 1), now, 'future') };
}

/** `a,b,c`; an empty value is the empty list (on update: callable from anywhere). */
export function parseIpList(value: string): string[] {
  return parseCommaList(value);
}

/** `a,b,c` of principals; an empty value is the empty list (the server checks each name). */
export function parsePrincipalList(value: string): string[] {
  return parseCommaList(value);
}

function parseCommaList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export function parseStatus(value: string): 'ACTIVE' | 'DISABLED' {
  const status = value.toUpperCase();
  if (status !== 'ACTIVE' && status !== 'DISABLED') throw new InvalidArgumentError('expected ACTIVE or DISABLED');
  return status;
}

export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive integer');
  }
  return n;
}

export function parseNonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number');
  return n;
}

/** `kid=path/to/key.pem`. */
export function parsePublicKeySpec(value: string): PublicKeySpec {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError('expected <kid>=<pem-file>');
  return { kid: value.slice(0, eq), file: value.slice(eq + 1) };
}

/** For repeatable options: commander calls this with each value and the list so far. */
export function collect<T>(parse: (value: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), parse(value)];
}

/**
 * Reads a PEM key file and answers the SPKI public key PEM. A private key file is accepted and
 * reduced to its public half here, so the private key never leaves the machine.
 */
export async function readPublicKeyPem(cwd: string, file: string): Promise<string> {
  const text = await readInputFile(cwd, file, 'key file');
  try {
    return createPublicKey(text).export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    throw new UsageError(`key file ${file} holds no PEM public or private key`);
  }
}

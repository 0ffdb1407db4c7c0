// tessera admin reviews list|extend|remove: memberships due for review or expiring, across the
// domains the caller administers, and the bulk action on them.

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

import type { AdminContext } from './context.ts';
import { NEVER, parseExpiry, parsePositiveInteger, parseRoleRef, parseTime } from './arguments.ts';
import { listAll, showChange } from './session.ts';
import { UsageError } from '../errors.ts';
import { readInputFile } from '../files.ts';
import type { View } from '../output.ts';

/** Items the server takes in one bulk action: more is refused here, as one action is all or none. */
const MAX_ITEMS = 1000;

const REVIEW_VIEW: View = { columns: ['domain', 'role', 'principal', 'reviewBy', 'expiresAt', 'reason'] };

export interface ReviewItemSpec {
  domain: string;
  role: string;
  principal: string;
}

/** `<domain>:role.<name>/<principal>` (or `<domain>:<name>/<principal>`). */
export function parseReviewItem(value: string): ReviewItemSpec {
  const slash = value.lastIndexOf('/');
  if (slash <= 0 || slash === value.length - 1)
    throw new InvalidArgumentError('expected <domain>:role.<name>/<principal>, e.g. payments:role.readers/alpha.api');
  const { domain, role } = parseRoleRef(value.slice(0, slash));
  return { domain, role, principal: value.slice(slash + 1) };
}

/** A window in seconds: a duration (30m, 12h, 14d) or a whole number of seconds. */
export function parseWindow(value: string): number {
  const units = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
  const match = /^(\d+)([smhd])?$/.exec(value);
  if (match === null) throw new InvalidArgumentError('expected a duration (12h, 14d) or a number of seconds');
  return Number(match[1]) * (match[2] === undefined ? 1 : units[match[2] as keyof typeof units]);
}

interface ActionOptions {
  file?: string;
  reviewBy?: string;
  expiresAt?: string;
  reason?: string;
}

export function registerReviewCommands(admin: Command, context: AdminContext): void {
  const reviews = admin.command('reviews').description('memberships due for review or expiring, and extending or removing them');

  reviews
    .command('list')
    .description('list memberships whose review date or expiry is within the window (or past), earliest first')
    .option('--within <duration>', 'the window from now: a duration (14d) or seconds (default: 14 days)', parseWindow)
    .option('--limit <n>', 'only the first n entries (default: all of them)', parsePositiveInteger)
    .action(async (options: { within?: number; limit?: number }, command: Command) => {
      const session = await context.open(command);
      const memberships = await listAll(session, '/reviews', 'memberships', { query: { within: options.within }, max: options.limit });
      session.showList({ memberships }, REVIEW_VIEW);
    });

  const action = (name: 'extend' | 'remove', description: string): Command =>
    reviews
      .command(name)
      .description(`${description}; all or none, at most ${MAX_ITEMS} memberships`)
      .argument('[items...]', 'memberships as <domain>:role.<name>/<principal>')
      .option('--file <path>', 'read memberships from a file too, one a line (# starts a comment)')
      .option('--reason <text>', 'why: recorded in the audit events');

  const run = async (kind: 'extend' | 'remove', given: string[], options: ActionOptions, command: Command): Promise<void> => {
    const lines = options.file === undefined ? [] : (await readInputFile(context.cwd, options.file, 'membership file')).split('\n');
    const specs = [...given, ...lines.map((line) => line.replace(/#.*/, '').trim()).filter((line) => line !== '')];
    if (specs.length === 0) throw new UsageError('no memberships given: name them as arguments or with --file');
    if (specs.length > MAX_ITEMS) throw new UsageError(`${specs.length} memberships: one action takes at most ${MAX_ITEMS} (it is all or none)`);
    const items = specs.map((spec) => {
      try {
        return parseReviewItem(spec);
      } catch (error) {
        throw new UsageError(`membership "${spec.slice(0, 80)}": ${(error as Error).message}`, { cause: error });
      }
    });
    if (kind === 'extend' && options.reviewBy === undefined) throw new UsageError('extend needs --review-by: the next review date');
    const expiresAt = options.expiresAt === undefined ? undefined : options.expiresAt === NEVER ? null : options.expiresAt;
    const session = await context.open(command);
    const body = { items, action: kind, reviewBy: options.reviewBy, expiresAt, reason: options.reason };
    const answer = await session.request('POST', '/reviews', { body });
    showChange(session, answer, `${kind === 'extend' ? 'extended' : 'removed'} ${items.length} memberships`);
  };

  action('extend', 'set a new review date (and optionally expiry) on memberships')
    .option('--review-by <time>', 'the next review date: ISO 8601 time or duration from now (90d); required', (value: string) =>
      parseTime(value, context.now(), 'future'),
    )
    .option('--expires-at <time>', `a new expiry: ISO 8601 time, duration from now (365d) or "${NEVER}"`, (value: string) => parseExpiry(value, context.now()))
    .action((given: string[], options: ActionOptions, command: Command) => run('extend', given, options, command));

  action('remove', 'remove memberships').action((given: string[], options: ActionOptions, command: Command) => run('remove', given, options, command));
}

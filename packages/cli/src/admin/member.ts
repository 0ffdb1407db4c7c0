// tessera admin member add|add-many|list|remove: members of a role, leaving the others alone.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parseMember, parsePositiveInteger, parseRoleRef, parseTime } from './arguments.ts';
import type { MemberSpec, RoleRef } from './arguments.ts';
import { LIMIT_OPTION, listAll, rolePath, segment, showChange } from './session.ts';
import { UsageError } from '../errors.ts';
import { readInputFile } from '../files.ts';
import type { View } from '../output.ts';

/** Members the server takes in one bulk addition. */
const BULK_MEMBERS = 1000;

const MEMBER_VIEW: View = { columns: ['principal', 'expiresAt', 'reviewBy'] };

interface AddOptions {
  expiresAt?: string;
  reviewBy?: string;
  reason?: string;
}

interface AddManyOptions {
  file?: string;
  reviewBy?: string;
  reason?: string;
}

const REASON_OPTION = ['--reason <text>', 'why: recorded in the audit event'] as const;

export function registerMemberCommands(admin: Command, context: AdminContext): void {
  const reviewByOption = (of = '') =>
    [
      '--review-by <time>',
      `when the membership${of} is due for review: ISO 8601 time or duration from now (90d); it still grants after`,
      (value: string) => parseTime(value, context.now(), 'future'),
    ] as const;
  const member = admin.command('member').description('role members');
  const memberPath = (ref: RoleRef, principal: string): string => `${rolePath(ref)}/members/${segment(principal)}`;

  member
    .command('add')
    .description('add a principal to a role (or change its expiry)')
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .argument('<principal>', 'e.g. alpha.api')
    .option('--expires-at <time>', 'ISO 8601 time or duration from now (90d)', (value: string) => parseTime(value, context.now(), 'future'))
    .option(...reviewByOption())
    .option(...REASON_OPTION)
    .action(async (ref: RoleRef, principal: string, options: AddOptions, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('PUT', memberPath(ref, principal), {
        body: { expiresAt: options.expiresAt, reviewBy: options.reviewBy, reason: options.reason },
      });
      showChange(session, answer, `added ${principal} to ${ref.domain}:role.${ref.role}`);
    });

  member
    .command('add-many')
    .description(
      `add many principals to a role (or change their expiry), keeping its other members; sent ${BULK_MEMBERS} a request, ` + 'each request all or nothing',
    )
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .argument('[members...]', 'members as <principal>[@<expiresAt>] (ISO 8601 or duration from now)')
    .option('--file <path>', 'read members from a file too, one <principal>[@<expiresAt>] a line (# starts a comment)')
    .option(...reviewByOption(' of every member given'))
    .option(...REASON_OPTION)
    .action(async (ref: RoleRef, given: string[], options: AddManyOptions, command: Command) => {
      const lines = options.file === undefined ? [] : (await readInputFile(context.cwd, options.file, 'member file')).split('\n');
      const specs = [...given, ...lines.map((line) => line.replace(/#.*/, '').trim()).filter((line) => line !== '')];
      if (specs.length === 0) throw new UsageError('no members given: name them as arguments or with --file');
      const members: MemberSpec[] = specs.map((spec) => {
        try {
          return parseMember(spec, context.now());
        } catch (error) {
          throw new UsageError(`member "${spec.slice(0, 80)}": ${(error as Error).message}`, { cause: error });
        }
      });
      const session = await context.open(command);
      const total = { created: 0, updated: 0, joinTokensVoided: 0 };
      for (let i = 0; i < members.length; i += BULK_MEMBERS) {
        const chunk = members.slice(i, i + BULK_MEMBERS).map((m) => (options.reviewBy === undefined ? m : { ...m, reviewBy: options.reviewBy }));
        const body = { members: chunk, reason: options.reason };
        const answer = (await session.request('POST', `${rolePath(ref)}/members`, { body })) as (Partial<typeof total> & { status?: string }) | null;
        if (answer?.status === 'pending') {
          showChange(session, answer);
          continue;
        }
        total.created += answer?.created ?? 0;
        total.updated += answer?.updated ?? 0;
        total.joinTokensVoided += answer?.joinTokensVoided ?? 0;
      }
      session.show(total);
    });

  member
    .command('list')
    .description("list a role's members")
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (ref: RoleRef, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      session.showList({ members: await listAll(session, `${rolePath(ref)}/members`, 'members', { max: options.limit }) }, MEMBER_VIEW);
    });

  member
    .command('remove')
    .description('remove a principal from a role')
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .argument('<principal>')
    .option(...REASON_OPTION)
    .action(async (ref: RoleRef, principal: string, options: { reason?: string }, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', memberPath(ref, principal), { query: { reason: options.reason } });
      showChange(session, answer, `removed ${principal} from ${ref.domain}:role.${ref.role}`);
    });
}

// tessera admin role list|put|get|delete

import { Option } from 'commander';
import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { collect, parseMember, parsePositiveInteger, parsePrincipalList, parseRoleRef } from './arguments.ts';
import type { MemberSpec, RoleRef } from './arguments.ts';
import type { View } from '../output.ts';
import { LIMIT_OPTION, domainPath, listAll, rolePath } from './session.ts';
import type { AdminSession } from './session.ts';

const ROLE_VIEW: View = { columns: ['fullName', 'members', 'updatedAt'] };

const ROLE_ARGUMENT = ['<role>', 'the role, as <domain>:role.<name>, e.g. payments:role.readers'] as const;

interface PutOptions {
  member?: MemberSpec[];
  actors?: string[];
  impersonators?: string[];
  idTokenSubjects?: boolean;
}

export function registerRoleCommands(admin: Command, context: AdminContext): void {
  const role = admin.command('role').description("roles: a domain's sets of members");

  role
    .command('list')
    .description("list a domain's roles and their members")
    .argument('<domain>')
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (domain: string, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      const roles = await listAll(session, `${domainPath(domain)}/roles`, 'roles', { max: options.limit });
      const whole = [];
      for (const found of roles) whole.push(await withAllMembers(session, found));
      session.showList({ roles: whole }, ROLE_VIEW);
    });

  role
    .command('put')
    .description('create or replace a role')
    .argument(...ROLE_ARGUMENT, parseRoleRef)
    .addOption(
      new Option('--member <principal[@expiresAt]>', 'a member, optionally expiring (ISO 8601 or duration); repeatable, replaces the member list').argParser(
        collect((value) => parseMember(value, context.now())),
      ),
    )
    .option(
      '--actors <principals>',
      'comma-separated principals that may act for its members (token exchange); replaces the list, "" empties it',
      parsePrincipalList,
    )
    .option(
      '--impersonators <principals>',
      'comma-separated principals that may impersonate its members when they ask; replaces the list, "" empties it',
      parsePrincipalList,
    )
    .option('--id-token-subjects', "let its actors exchange a member's ID token (one issued for the actor) for tokens carrying the role")
    .option('--no-id-token-subjects', "refuse exchanging members' ID tokens for the role (the default for a new role)")
    .action(async (ref: RoleRef, options: PutOptions, command: Command) => {
      const session = await context.open(command);
      const body = {
        ...(options.member === undefined ? {} : { members: options.member }),
        ...(options.actors === undefined ? {} : { actors: options.actors }),
        ...(options.impersonators === undefined ? {} : { impersonators: options.impersonators }),
        ...(options.idTokenSubjects === undefined ? {} : { idTokenSubjects: options.idTokenSubjects }),
      };
      const answer = await session.request('PUT', rolePath(ref), { body });
      session.show(answer, `saved role ${ref.domain}:role.${ref.role}`);
    });

  role
    .command('get')
    .description('show a role and its members')
    .argument(...ROLE_ARGUMENT, parseRoleRef)
    .action(async (ref: RoleRef, _options: unknown, command: Command) => {
      const session = await context.open(command);
      session.show(await withAllMembers(session, await session.request('GET', rolePath(ref))));
    });

  role
    .command('delete')
    .description('delete a role')
    .argument(...ROLE_ARGUMENT, parseRoleRef)
    .action(async (ref: RoleRef, _options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', rolePath(ref));
      session.show(answer, `deleted role ${ref.domain}:role.${ref.role}`);
    });
}

/**
 * A role as the server shows it gives its first members and `membersNextCursor` for the rest:
 * here the rest are fetched too, so that the role is shown whole.
 */
async function withAllMembers(session: AdminSession, shown: unknown): Promise<unknown> {
  const role = shown as { domain?: string; name?: string; members?: unknown[]; membersNextCursor?: string | null } | null;
  if (typeof role?.membersNextCursor !== 'string' || role.domain === undefined || role.name === undefined) return shown;
  const { membersNextCursor, ...rest } = role;
  const path = `${rolePath({ domain: role.domain, role: role.name })}/members`;
  const more = await listAll(session, path, 'members', { start: membersNextCursor });
  return { ...rest, members: [...(role.members ?? []), ...more] };
}

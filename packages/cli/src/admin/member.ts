// tessera admin member add|remove: one member of a role, leaving the others alone.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parseRoleRef, parseTime } from './arguments.ts';
import type { RoleRef } from './arguments.ts';
import { rolePath, segment } from './session.ts';

interface AddOptions {
  expiresAt?: string;
}

export function registerMemberCommands(admin: Command, context: AdminContext): void {
  const member = admin.command('member').description('role members');
  const memberPath = (ref: RoleRef, principal: string): string =>
    `${rolePath(ref)}/members/${segment(principal)}`;

  member
    .command('add')
    .description('add a principal to a role (or change its expiry)')
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .argument('<principal>', 'e.g. alpha.api')
    .option('--expires-at <time>', 'ISO 8601 time or duration from now (90d)', (value: string) =>
      parseTime(value, context.now(), 'future'),
    )
    .action(async (ref: RoleRef, principal: string, options: AddOptions, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('PUT', memberPath(ref, principal), {
        body: { expiresAt: options.expiresAt },
      });
      session.show(answer, `added ${principal} to ${ref.domain}:role.${ref.role}`);
    });

  member
    .command('remove')
    .description('remove a principal from a role')
    .argument('<role>', 'the role, as <domain>:role.<name>', parseRoleRef)
    .argument('<principal>')
    .action(async (ref: RoleRef, principal: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', memberPath(ref, principal));
      session.show(answer, `removed ${principal} from ${ref.domain}:role.${ref.role}`);
    });
}

// tessera admin approvals list|approve|reject: changes that wait for a second admin of their domain.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger } from './arguments.ts';
import { LIMIT_OPTION, domainPath, listAll, segment } from './session.ts';
import type { View } from '../output.ts';

const APPROVAL_VIEW: View = { columns: ['id', 'kind', 'role', 'requestedBy', 'requestedAt', 'expiresAt'] };

export function registerApprovalCommands(admin: Command, context: AdminContext): void {
  const approvals = admin.command('approvals').description('changes waiting for a second admin of their domain');

  approvals
    .command('list')
    .description("list a domain's pending changes, oldest first")
    .argument('<domain>')
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (domain: string, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      session.showList({ approvals: await listAll(session, `${domainPath(domain)}/approvals`, 'approvals', { max: options.limit }) }, APPROVAL_VIEW);
    });

  approvals
    .command('approve')
    .description('approve a change someone else requested, applying it')
    .argument('<id>', 'the change, e.g. chg_0123456789abcdef')
    .option('--reason <text>', 'why: recorded in the approval event')
    .action(async (id: string, options: { reason?: string }, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('POST', `/approvals/${segment(id)}/approve`, { body: { reason: options.reason } });
      session.show(answer, `approved ${id}`);
    });

  approvals
    .command('reject')
    .description('reject a pending change (or withdraw one you requested)')
    .argument('<id>', 'the change, e.g. chg_0123456789abcdef')
    .option('--reason <text>', 'why: recorded with the rejection')
    .action(async (id: string, options: { reason?: string }, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('POST', `/approvals/${segment(id)}/reject`, { body: { reason: options.reason } });
      session.show(answer, `rejected ${id}`);
    });
}

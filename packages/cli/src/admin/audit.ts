// tessera admin audit list

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger, parseTime } from './arguments.ts';
import { listAll } from './session.ts';
import type { View } from '../output.ts';

/** The audit log grows without end: without --limit, the newest this many. */
const DEFAULT_EVENTS = 100;

export const AUDIT_VIEW: View = { columns: ['at', 'actor', 'type', 'target'] };

interface ListOptions {
  principal?: string;
  type?: string;
  since?: string;
  limit?: number;
}

export function registerAuditCommands(admin: Command, context: AdminContext): void {
  const audit = admin.command('audit').description('the audit log of changes');

  audit
    .command('list')
    .description('list audit events, newest first')
    .option('--principal <principal>', 'events made by or about this principal')
    .option('--type <type>', 'events of this type, e.g. service.create')
    .option('--since <time>', 'ISO 8601 time or duration before now (24h)', (value: string) => parseTime(value, context.now(), 'past'))
    .option(
      '--limit <n>',
      `at most this many events, the newest (default ${DEFAULT_EVENTS}; more than 1,000 are fetched a page at a time)`,
      parsePositiveInteger,
    )
    .action(async (options: ListOptions, command: Command) => {
      const session = await context.open(command);
      const query = { principal: options.principal, type: options.type, since: options.since };
      const events = await listAll(session, '/audit', 'events', { query, max: options.limit ?? DEFAULT_EVENTS });
      session.showList({ events }, AUDIT_VIEW);
    });
}

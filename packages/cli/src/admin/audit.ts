// tessera admin audit list [--domain d [--target t]]

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger, parseTime } from './arguments.ts';
import { domainPath, listAll } from './session.ts';
import { UsageError } from '../errors.ts';
import type { View } from '../output.ts';

/** The audit log grows without end: without --limit, the newest this many. */
const DEFAULT_EVENTS = 100;

export const AUDIT_VIEW: View = { columns: ['at', 'actor', 'type', 'target'] };

interface ListOptions {
  domain?: string;
  target?: string;
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
    .option('--domain <domain>', "the domain's timeline: changes to it, its roles and members, its services and their credentials (its admins may read it)")
    .option('--target <target>', 'with --domain: only changes to this service (d.s), role (d:role.r) or the domain')
    .option('--principal <principal>', 'events made by or about this principal (the whole log: system admins)')
    .option('--type <type>', 'events of this type, e.g. service.create')
    .option('--since <time>', 'ISO 8601 time or duration before now (24h)', (value: string) => parseTime(value, context.now(), 'past'))
    .option(
      '--limit <n>',
      `at most this many events, the newest (default ${DEFAULT_EVENTS}; more than 1,000 are fetched a page at a time)`,
      parsePositiveInteger,
    )
    .action(async (options: ListOptions, command: Command) => {
      if (options.domain !== undefined && options.principal !== undefined) {
        throw new UsageError('--principal reads the whole log; with --domain, narrow with --target instead');
      }
      if (options.target !== undefined && options.domain === undefined) throw new UsageError('--target needs --domain');
      const session = await context.open(command);
      const path = options.domain === undefined ? '/audit' : `${domainPath(options.domain)}/audit`;
      const query = { principal: options.principal, target: options.target, type: options.type, since: options.since };
      const events = await listAll(session, path, 'events', { query, max: options.limit ?? DEFAULT_EVENTS });
      session.showList({ events }, AUDIT_VIEW);
    });
}

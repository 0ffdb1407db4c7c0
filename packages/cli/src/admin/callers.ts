// tessera admin callers list|series <domain>: who calls whom

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger, parseTime } from './arguments.ts';
import { domainPath, listAll, LIMIT_OPTION } from './session.ts';
import type { View } from '../output.ts';

export const CALLERS_VIEW: View = { columns: ['principal', 'actor', 'roles', 'count', 'firstSeen', 'lastSeen'] };
export const SERIES_VIEW: View = { columns: ['at', 'count'] };

interface CallerOptions {
  since?: string;
  limit?: number;
  principal?: string;
}

export function registerCallerCommands(admin: Command, context: AdminContext): void {
  const callers = admin.command('callers').description('who calls whom: the principals that obtained tokens for a domain');
  const since = ['--since <time>', 'start of the period: ISO 8601 time or duration before now (7d); default 30 days ago'] as const;
  const parseSince = (value: string): string => parseTime(value, context.now(), 'past');

  callers
    .command('list')
    .description('each principal, actor and set of roles that obtained tokens for the domain, with counts and first and last seen')
    .argument('<domain>')
    .option(since[0], since[1], parseSince)
    .option(LIMIT_OPTION[0], LIMIT_OPTION[1], parsePositiveInteger)
    .action(async (domain: string, options: CallerOptions, command: Command) => {
      const session = await context.open(command);
      const found = await listAll(session, `${domainPath(domain)}/callers`, 'callers', { query: { since: options.since }, max: options.limit });
      session.showList({ callers: found }, CALLERS_VIEW);
    });

  callers
    .command('series')
    .description('tokens obtained for the domain per hour (hours with none left out)')
    .argument('<domain>')
    .option(since[0], since[1], parseSince)
    .option('--principal <principal>', "only this principal's tokens")
    .action(async (domain: string, options: CallerOptions, command: Command) => {
      const session = await context.open(command);
      const answer = (await session.request('GET', `${domainPath(domain)}/callers/series`, {
        query: { since: options.since, principal: options.principal },
      })) as { points?: unknown[] } | null;
      session.showList({ points: answer?.points ?? [] }, SERIES_VIEW);
    });
}

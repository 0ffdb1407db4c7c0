// tessera admin domain create|list|get|delete

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger } from './arguments.ts';
import { LIMIT_OPTION, domainPath, listAll } from './session.ts';
import type { View } from '../output.ts';

export const DOMAIN_VIEW: View = { columns: ['name', 'description', 'createdAt'] };

interface CreateOptions {
  description?: string;
}

export function registerDomainCommands(admin: Command, context: AdminContext): void {
  const domain = admin.command('domain').description('domains: namespaces owned by a team');

  domain
    .command('create')
    .description('create a domain')
    .argument('<name>', 'lower-case, dots allowed, e.g. payments or beta.jobs')
    .option('--description <text>', 'what the domain is for')
    .action(async (name: string, options: CreateOptions, command: Command) => {
      const session = await context.open(command);
      const created = await session.request('POST', '/domains', {
        body: { name, description: options.description },
      });
      session.show(created, `created domain ${name}`);
    });

  domain
    .command('list')
    .description('list domains')
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      session.showList({ domains: await listAll(session, '/domains', 'domains', { max: options.limit }) }, DOMAIN_VIEW);
    });

  domain
    .command('get')
    .description('show a domain')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      session.show(await session.request('GET', domainPath(name)));
    });

  domain
    .command('delete')
    .description('delete a domain')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      session.show(await session.request('DELETE', domainPath(name)), `deleted domain ${name}`);
    });
}

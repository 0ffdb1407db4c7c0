// tessera admin api-key create|list|revoke: API keys for callers that cannot do OAuth (docs/http-api.md, API keys).

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger, parseServiceRef, parseTime } from './arguments.ts';
import type { ServiceRef } from './arguments.ts';
import { LIMIT_OPTION, listAll, segment, servicePath } from './session.ts';
import type { View } from '../output.ts';

export const API_KEY_VIEW: View = { columns: ['id', 'audience', 'description', 'createdAt', 'expiresAt', 'revokedAt'] };

interface CreateOptions {
  audience: string;
  expiresAt?: string;
  description?: string;
}

export function registerApiKeyCommands(admin: Command, context: AdminContext): void {
  const apiKey = admin.command('api-key').description("a service's API keys (for callers that cannot do OAuth)");
  const principal = ['<principal>', 'the service, as <domain>.<service>, e.g. alpha.api'] as const;
  const apiKeysPath = (ref: ServiceRef): string => `${servicePath(ref)}/api-keys`;

  apiKey
    .command('create')
    .description('issue an API key; it is printed once')
    .argument(...principal, parseServiceRef)
    .requiredOption('--audience <domain>', 'the domain whose services accept the key; the service must hold a role there')
    .option('--expires-at <time>', 'ISO 8601 time or duration from now (90d); default: never', (value: string) => parseTime(value, context.now(), 'future'))
    .option('--description <text>', 'who or what uses the key')
    .action(async (ref: ServiceRef, options: CreateOptions, command: Command) => {
      const session = await context.open(command);
      const created = await session.request('POST', apiKeysPath(ref), {
        body: { audience: options.audience, expiresAt: options.expiresAt, description: options.description },
      });
      session.show(created, `created an API key for ${ref.domain}.${ref.service}`);
      if (created !== null && typeof created === 'object' && 'apiKey' in created) {
        session.note('note: the API key is shown only this once; store it now');
      }
    });

  apiKey
    .command('list')
    .description("list a service's API keys (never the keys themselves)")
    .argument(...principal, parseServiceRef)
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (ref: ServiceRef, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      session.showList({ apiKeys: await listAll(session, apiKeysPath(ref), 'apiKeys', { max: options.limit }) }, API_KEY_VIEW);
    });

  apiKey
    .command('revoke')
    .description('revoke an API key at once')
    .argument(...principal, parseServiceRef)
    .argument('<id>', 'the key id, as listed')
    .action(async (ref: ServiceRef, id: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', `${apiKeysPath(ref)}/${segment(id)}`);
      session.show(answer, `revoked API key ${id} of ${ref.domain}.${ref.service}`);
    });
}

// tessera admin join-token create: a one-time bootstrap token for a new instance of a service
// (docs/certificates.md, Join token), which `tessera cert --join-token` trades for the first certificate.

import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parseServiceRef } from './arguments.ts';

interface CreateOptions {
  ttl?: number;
}

const DURATION = /^(\d+)([smhd]?)$/;
const UNIT_SECONDS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Seconds, or a duration such as 15m, 2h, 1d. */
export function parseTtl(value: string): number {
  const match = DURATION.exec(value.trim());
  const seconds = match === null ? Number.NaN : Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new InvalidArgumentError('expected seconds or a duration such as 15m, 2h, 1d');
  }
  return seconds;
}

export function registerJoinTokenCommands(admin: Command, context: AdminContext): void {
  const joinToken = admin.command('join-token').description('one-time tokens that bootstrap a first certificate');

  joinToken
    .command('create')
    .description('make a join token for a service; it is printed once')
    .argument('<principal>', 'the service, as <domain>.<service>, e.g. alpha.api', (value: string) => {
      parseServiceRef(value);
      return value;
    })
    .option('--ttl <time>', "how long it stays usable: seconds or 15m, 2h (default: the server's, 15m)", parseTtl)
    .action(async (principal: string, options: CreateOptions, command: Command) => {
      const session = await context.open(command);
      const created = await session.request('POST', '/join-tokens', {
        body: { principal, ...(options.ttl === undefined ? {} : { ttlSeconds: options.ttl }) },
      });
      session.show(created, `created a join token for ${principal}`);
      session.note(`note: the join token is shown only this once and works once: tessera cert --principal ${principal} --join-token <token> --out-dir <dir>`);
    });
}

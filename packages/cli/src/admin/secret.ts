// tessera admin secret rotate

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parseNonNegativeInteger, parseServiceRef } from './arguments.ts';
import type { ServiceRef } from './arguments.ts';
import { warnIfSecretShown } from './service.ts';
import { servicePath } from './session.ts';

interface RotateOptions {
  graceSeconds?: number;
}

export function registerSecretCommands(admin: Command, context: AdminContext): void {
  const secret = admin.command('secret').description("a service's client secrets");

  secret
    .command('rotate')
    .description('issue a new client secret; older ones stop working after the grace period')
    .argument('<principal>', 'the service, as <domain>.<service>', parseServiceRef)
    .option('--grace-seconds <n>', 'how long the previous secret keeps working', parseNonNegativeInteger)
    .action(async (ref: ServiceRef, options: RotateOptions, command: Command) => {
      const session = await context.open(command);
      const created = await session.request('POST', `${servicePath(ref)}/secrets`, {
        body: { graceSeconds: options.graceSeconds },
      });
      session.show(created);
      warnIfSecretShown(session, created);
    });
}

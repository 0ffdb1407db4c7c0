// tessera admin signing-keys rotate: force the rotation that otherwise runs on schedule.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';

export function registerSigningKeyCommands(admin: Command, context: AdminContext): void {
  const signingKeys = admin.command('signing-keys').description('token signing keys');

  signingKeys
    .command('rotate')
    .description('start a rotation: a new key is published now and signs after the pre-publication window')
    .action(async (_options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('POST', '/signing-keys/rotate', { body: {} });
      session.show(answer, 'signing key rotation started');
    });
}

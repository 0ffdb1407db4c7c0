// tessera admin key list|put|delete: public keys registered on a service, used for
// private_key_jwt client authentication and for certificates from a CSR.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { parsePositiveInteger, parseServiceRef, readPublicKeyPem } from './arguments.ts';
import type { ServiceRef } from './arguments.ts';
import { LIMIT_OPTION, listAll, segment, servicePath } from './session.ts';
import type { View } from '../output.ts';

const KEY_VIEW: View = { columns: ['kid', 'createdAt'] };

export function registerKeyCommands(admin: Command, context: AdminContext): void {
  const key = admin.command('key').description("a service's registered public keys");
  const keyPath = (ref: ServiceRef, kid: string): string => `${servicePath(ref)}/keys/${segment(kid)}`;

  key
    .command('list')
    .description("list a service's registered public keys, oldest first")
    .argument('<principal>', 'the service, as <domain>.<service>', parseServiceRef)
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (ref: ServiceRef, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      session.showList({ keys: await listAll(session, `${servicePath(ref)}/keys`, 'keys', { max: options.limit }) }, KEY_VIEW);
    });

  key
    .command('put')
    .description('register (or replace) a public key under a key id')
    .argument('<principal>', 'the service, as <domain>.<service>', parseServiceRef)
    .argument('<kid>', 'key id, as the kid of its JWT assertions')
    .argument('<pem-file>', 'PEM public key; a private key file is reduced to its public key locally')
    .action(async (ref: ServiceRef, kid: string, file: string, _options: unknown, command: Command) => {
      const pem = await readPublicKeyPem(context.cwd, file);
      const session = await context.open(command);
      const answer = await session.request('PUT', keyPath(ref, kid), { body: { pem } });
      session.show(answer, `registered key ${kid} on ${ref.domain}.${ref.service}`);
    });

  key
    .command('delete')
    .description('remove a registered public key')
    .argument('<principal>', 'the service, as <domain>.<service>', parseServiceRef)
    .argument('<kid>')
    .action(async (ref: ServiceRef, kid: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', keyPath(ref, kid));
      session.show(answer, `deleted key ${kid} of ${ref.domain}.${ref.service}`);
    });
}

// tessera admin service create|list|get|update|delete

import { Option } from 'commander';
import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import {
  NEVER,
  collect,
  parseExpiry,
  parseIpList,
  parsePositiveInteger,
  parsePublicKeySpec,
  parseServiceRef,
  parseStatus,
  readPublicKeyPem,
} from './arguments.ts';
import type { PublicKeySpec, ServiceRef } from './arguments.ts';
import { LIMIT_OPTION, domainPath, listAll, servicePath } from './session.ts';
import type { AdminSession } from './session.ts';
import { UsageError } from '../errors.ts';
import type { View } from '../output.ts';

export const SERVICE_VIEW: View = {
  columns: ['principal', 'status', 'clientId', 'allowedIps', 'expiresAt', 'description'],
};

interface CreateOptions {
  description?: string;
  allowedIps?: string[];
  expiresAt?: string;
  secret?: boolean;
  publicKey?: PublicKeySpec[];
}

interface UpdateOptions {
  status?: 'ACTIVE' | 'DISABLED';
  description?: string;
  allowedIps?: string[];
  expiresAt?: string;
}

export function registerServiceCommands(admin: Command, context: AdminContext): void {
  const service = admin.command('service').description('services: the identities (OAuth clients) of a domain');
  const principal = ['<principal>', 'the service, as <domain>.<service>, e.g. payments.api'] as const;
  const expiry = (value: string): string => parseExpiry(value, context.now());

  service
    .command('create')
    .description('register a service; its client secret is printed once')
    .argument(...principal, parseServiceRef)
    .option('--description <text>', 'what the service is')
    .option('--allowed-ips <cidrs>', 'comma-separated CIDR blocks it may call from', parseIpList)
    .option('--expires-at <time>', 'ISO 8601 time or duration from now (90d)', expiry)
    .option('--secret', 'issue a client secret (the default)')
    .option('--no-secret', 'issue no client secret (keys or certificates only)')
    .addOption(new Option('--public-key <kid=pem-file>', 'register a public key (repeatable)').argParser(collect(parsePublicKeySpec)))
    .action(async (ref: ServiceRef, options: CreateOptions, command: Command) => {
      const publicKeys = await Promise.all(
        (options.publicKey ?? []).map(async ({ kid, file }) => ({
          kid,
          pem: await readPublicKeyPem(context.cwd, file),
        })),
      );
      const session = await context.open(command);
      const created = await session.request('POST', `${domainPath(ref.domain)}/services`, {
        body: {
          name: ref.service,
          description: options.description,
          allowedIps: options.allowedIps,
          expiresAt: options.expiresAt === NEVER ? undefined : options.expiresAt,
          secret: options.secret ?? true,
          publicKeys: publicKeys.length > 0 ? publicKeys : undefined,
        },
      });
      session.show(created, `created service ${ref.domain}.${ref.service}`);
      warnIfSecretShown(session, created);
    });

  service
    .command('list')
    .description("list a domain's services")
    .argument('<domain>')
    .option(...LIMIT_OPTION, parsePositiveInteger)
    .action(async (domain: string, options: { limit?: number }, command: Command) => {
      const session = await context.open(command);
      const services = await listAll(session, `${domainPath(domain)}/services`, 'services', { max: options.limit });
      session.showList({ services }, SERVICE_VIEW);
    });

  service
    .command('get')
    .description('show a service')
    .argument(...principal, parseServiceRef)
    .action(async (ref: ServiceRef, _options: unknown, command: Command) => {
      const session = await context.open(command);
      session.show(await session.request('GET', servicePath(ref)));
    });

  service
    .command('update')
    .description('change the status, description, allowed IPs or expiry of a service')
    .argument(...principal, parseServiceRef)
    .option('--status <status>', 'ACTIVE or DISABLED', parseStatus)
    .option('--description <text>', 'what the service is')
    .option('--allowed-ips <cidrs>', 'comma-separated CIDR blocks; "" allows any address', parseIpList)
    .option('--expires-at <time>', 'ISO 8601 time, duration from now (90d), or never', expiry)
    .action(async (ref: ServiceRef, options: UpdateOptions, command: Command) => {
      const changes = {
        status: options.status,
        description: options.description,
        allowedIps: options.allowedIps,
        expiresAt: options.expiresAt === NEVER ? null : options.expiresAt,
      };
      if (Object.values(changes).every((value) => value === undefined)) {
        throw new UsageError('nothing to update: pass --status, --description, --allowed-ips or --expires-at');
      }
      const session = await context.open(command);
      const updated = await session.request('PATCH', servicePath(ref), { body: changes });
      session.show(updated, `updated service ${ref.domain}.${ref.service}`);
    });

  service
    .command('delete')
    .description('delete a service and its credentials')
    .argument(...principal, parseServiceRef)
    .action(async (ref: ServiceRef, _options: unknown, command: Command) => {
      const session = await context.open(command);
      const answer = await session.request('DELETE', servicePath(ref));
      session.show(answer, `deleted service ${ref.domain}.${ref.service}`);
    });
}

/** The admin API returns a secret once, never again; say so where the person reading will see it. */
export function warnIfSecretShown(session: AdminSession, answer: unknown): void {
  if (answer !== null && typeof answer === 'object' && 'clientSecret' in answer) {
    session.note('note: the client secret is shown only this once; store it now');
  }
}

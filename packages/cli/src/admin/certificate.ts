// tessera admin certificate get|revoke|list|revoke-all: certificates Tessera's CA issued, by
// serial or by service. A revoked serial is refused at once for mTLS, certificate login and
// renewal, and so is every certificate renewed from it.

import { Option } from 'commander';
import type { Command } from 'commander';

import type { View } from '../output.ts';
import { parseServiceRef } from './arguments.ts';
import type { ServiceRef } from './arguments.ts';
import type { AdminContext } from './context.ts';
import { listAll, segment, servicePath } from './session.ts';

const CERTIFICATE_VIEW: View = {
  columns: ['serial', 'issuedAt', 'notAfter', 'revokedAt', 'revocationReason', 'renewedFrom'],
};

interface RevokeOptions {
  reason?: string;
}

interface ListOptions {
  status?: 'active' | 'revoked' | 'expired';
}

export function registerCertificateCommands(admin: Command, context: AdminContext): void {
  const certificate = admin.command('certificate').description("certificates issued by Tessera's CA, by serial or by service");
  const principal = ['<principal>', 'the service, as <domain>.<service>, e.g. payments.api'] as const;
  const serial = ['<serial>', 'hex, as `tessera cert --json` or `openssl x509 -noout -serial` prints it'] as const;

  certificate
    .command('get')
    .description('show who a certificate was issued to, when, and whether it is revoked')
    .argument(...serial)
    .action(async (value: string, _options: unknown, command: Command) => {
      const session = await context.open(command);
      session.show(await session.request('GET', `/certificates/${segment(value)}`));
    });

  certificate
    .command('revoke')
    .description('revoke a certificate at once, and every certificate renewed from it')
    .argument(...serial)
    .option('--reason <reason>', 'RFC 5280 reason, e.g. keyCompromise, superseded (default: unspecified)')
    .action(async (value: string, options: RevokeOptions, command: Command) => {
      const session = await context.open(command);
      const body = options.reason === undefined ? {} : { reason: options.reason };
      session.show(await session.request('POST', `/certificates/${segment(value)}/revoke`, { body }));
    });

  certificate
    .command('list')
    .description("list a service's certificates, newest first")
    .argument(...principal, parseServiceRef)
    .addOption(new Option('--status <status>', 'only active, revoked or expired ones').choices(['active', 'revoked', 'expired']))
    .action(async (ref: ServiceRef, options: ListOptions, command: Command) => {
      const session = await context.open(command);
      const query = { status: options.status };
      session.showList({ certificates: await listAll(session, `${servicePath(ref)}/certificates`, 'certificates', { query }) }, CERTIFICATE_VIEW);
    });

  certificate
    .command('revoke-all')
    .description('revoke every live certificate of a service at once (a stolen key, an incident)')
    .argument(...principal, parseServiceRef)
    .option('--reason <reason>', 'RFC 5280 reason, e.g. keyCompromise, cessationOfOperation (default: unspecified)')
    .action(async (ref: ServiceRef, options: RevokeOptions, command: Command) => {
      const session = await context.open(command);
      const body = options.reason === undefined ? {} : { reason: options.reason };
      session.show(await session.request('POST', `${servicePath(ref)}/certificates/revoke`, { body }));
    });
}

// tessera admin certificate get|revoke: certificates Tessera's CA issued, by serial (SPEC §5).
// A revoked serial is refused at once for mTLS, certificate login and renewal.

import type { Command } from 'commander';

import type { AdminContext } from './context.ts';
import { segment } from './session.ts';

interface RevokeOptions {
  reason?: string;
}

export function registerCertificateCommands(admin: Command, context: AdminContext): void {
  const certificate = admin.command('certificate').description("certificates issued by Tessera's CA, by serial");
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
    .description('revoke a certificate at once')
    .argument(...serial)
    .option('--reason <reason>', 'RFC 5280 reason, e.g. keyCompromise, superseded (default: unspecified)')
    .action(async (value: string, options: RevokeOptions, command: Command) => {
      const session = await context.open(command);
      const body = options.reason === undefined ? {} : { reason: options.reason };
      session.show(await session.request('POST', `/certificates/${segment(value)}/revoke`, { body }));
    });
}

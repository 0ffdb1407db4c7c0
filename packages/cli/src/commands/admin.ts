// tessera admin <resource> <verb> …: the admin API (docs/http-api.md) from the shell. The admin flags below are
// recognised anywhere on the line (`tessera admin domain list --json`); each resource's verbs
// live in src/admin/<resource>.ts.

import { Option } from 'commander';
import type { Command } from 'commander';

import { registerApiKeyCommands } from '../admin/api-key.ts';
import { registerApprovalCommands } from '../admin/approvals.ts';
import { registerAuditCommands } from '../admin/audit.ts';
import { registerCallerCommands } from '../admin/callers.ts';
import { registerCertificateCommands } from '../admin/certificate.ts';
import type { AdminContext, RegisterResource } from '../admin/context.ts';
import { registerDomainCommands } from '../admin/domain.ts';
import { registerJoinTokenCommands } from '../admin/join-token.ts';
import { registerKeyCommands } from '../admin/key.ts';
import { registerMemberCommands } from '../admin/member.ts';
import { registerReviewCommands } from '../admin/reviews.ts';
import { registerRoleCommands } from '../admin/role.ts';
import { registerSecretCommands } from '../admin/secret.ts';
import { registerServiceCommands } from '../admin/service.ts';
import { DEFAULT_ADMIN_SCOPE, openAdminSession } from '../admin/session.ts';
import type { AdminFlags } from '../admin/session.ts';
import { registerSigningKeyCommands } from '../admin/signing-keys.ts';
import { addConnectionOptions } from '../connection.ts';
import { DEFAULT_CREDENTIALS_FILE } from '../credentials.ts';
import type { CliIo } from '../io.ts';

const RESOURCES: readonly RegisterResource[] = [
  registerDomainCommands,
  registerServiceCommands,
  registerSecretCommands,
  registerKeyCommands,
  registerApiKeyCommands,
  registerJoinTokenCommands,
  registerCertificateCommands,
  registerRoleCommands,
  registerMemberCommands,
  registerReviewCommands,
  registerApprovalCommands,
  registerSigningKeyCommands,
  registerAuditCommands,
  registerCallerCommands,
];

export function registerAdminCommand(program: Command, io: CliIo): void {
  const admin = program
    .command('admin')
    .description('administer domains, services, roles and keys')
    .addHelpText(
      'after',
      `
The server is --server, TESSERA_SERVER or the profile's (its /oauth2/token gets the secret);
else the one the credential file's tokenEndpoint belongs to, else https://127.0.0.1:8443. Times are ISO 8601 (UTC unless a zone is given) or durations
such as 30m, 12h, 90d.`,
    );
  addConnectionOptions(admin)
    .option('--credentials <file>', `client credential file {"clientId","clientSecret","tokenEndpoint"} (default: ./${DEFAULT_CREDENTIALS_FILE})`)
    .addOption(new Option('--scope <scope>', 'scope of the access token to act with').default(DEFAULT_ADMIN_SCOPE))
    .option('--json', 'print the server answer as JSON');

  const context: AdminContext = {
    now: io.now ?? Date.now,
    cwd: io.cwd,
    open: (command) => openAdminSession(command.optsWithGlobals<AdminFlags>(), io),
  };
  for (const register of RESOURCES) register(admin, context);
}

// An example or two for every command's --help, in one table so that a test can check that no
// command lacks them, and a new command cannot be added without thinking of one.

import { Help } from 'commander';
import type { Command, Option } from 'commander';

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  serve: [
    'tessera serve',
    'tessera serve --listen https://0.0.0.0:8443 --issuer https://tessera.internal:8443 --workers 4',
    'tessera serve --log-format json --data-dir /var/lib/tessera',
  ],
  admin: ['tessera admin domain list', 'tessera admin --credentials /var/lib/tessera/bootstrap-admin.json service list alpha'],
  'admin domain': ['tessera admin domain create alpha --description "the alpha team"', 'tessera admin domain list'],
  'admin domain create': ['tessera admin domain create alpha --description "the alpha team"'],
  'admin domain list': ['tessera admin domain list', 'tessera admin domain list --json'],
  'admin domain get': ['tessera admin domain get alpha'],
  'admin domain delete': ['tessera admin domain delete alpha'],
  'admin service': ['tessera admin service create alpha.api', 'tessera admin service list alpha'],
  'admin service create': [
    'tessera admin service create alpha.api --description "alpha\'s API"',
    'tessera admin service create alpha.worker --no-secret --public-key k1=worker-public.pem',
  ],
  'admin service list': ['tessera admin service list alpha'],
  'admin service get': ['tessera admin service get alpha.api'],
  'admin service update': [
    'tessera admin service update alpha.api --status DISABLED',
    'tessera admin service update alpha.api --allowed-ips 10.0.0.0/8,192.168.1.0/24',
  ],
  'admin service delete': ['tessera admin service delete alpha.api'],
  'admin secret': ['tessera admin secret rotate alpha.api --grace-seconds 3600'],
  'admin secret rotate': ['tessera admin secret rotate alpha.api', 'tessera admin secret rotate alpha.api --grace-seconds 3600'],
  'admin key': ['tessera admin key put alpha.worker k1 worker-public.pem', 'tessera admin key list alpha.worker'],
  'admin key list': ['tessera admin key list alpha.worker'],
  'admin key put': ['tessera admin key put alpha.worker k1 worker-public.pem'],
  'admin key delete': ['tessera admin key delete alpha.worker k1'],
  'admin api-key': ['tessera admin api-key create alpha.api --audience beta', 'tessera admin api-key list alpha.api'],
  'admin api-key create': ['tessera admin api-key create alpha.api --audience beta --expires-at 90d'],
  'admin api-key list': ['tessera admin api-key list alpha.api'],
  'admin api-key revoke': ['tessera admin api-key revoke alpha.api <id from api-key list>'],
  'admin join-token': ['tessera admin join-token create alpha.api --ttl 15m'],
  'admin join-token create': ['tessera admin join-token create alpha.api', 'tessera admin join-token create alpha.api --ttl 2h'],
  'admin certificate': ['tessera admin certificate list alpha.api', 'tessera admin certificate revoke <serial> --reason keyCompromise'],
  'admin certificate get': ['tessera admin certificate get <serial>'],
  'admin certificate revoke': ['tessera admin certificate revoke <serial> --reason keyCompromise'],
  'admin certificate list': ['tessera admin certificate list alpha.api --status active'],
  'admin certificate revoke-all': ['tessera admin certificate revoke-all alpha.api --reason cessationOfOperation'],
  'admin role': ['tessera admin role list beta', 'tessera admin member add beta:role.readers alpha.api'],
  'admin role list': ['tessera admin role list beta'],
  'admin role put': [
    'tessera admin role put beta:role.readers            # create the role, empty',
    'tessera admin role put beta:readers --member alpha.api --member alpha.batch@30d   # replaces every member',
    'tessera admin role put orders:readers --actors edge.gateway   # edge.gateway may act for its members (token exchange)',
  ],
  'admin role get': ['tessera admin role get beta:role.readers'],
  'admin role delete': ['tessera admin role delete beta:role.readers'],
  'admin member': ['tessera admin member add beta:role.readers alpha.api', 'tessera admin member list beta:readers'],
  'admin member add': [
    'tessera admin member add beta:role.readers alpha.api',
    'tessera admin member add beta:readers alpha.batch --expires-at 30d --review-by 14d --reason "batch job, ticket 42"',
  ],
  'admin member add-many': [
    'tessera admin member add-many beta:readers alpha.api alpha.batch@30d',
    'tessera admin member add-many beta:readers --file members.txt',
  ],
  'admin member list': ['tessera admin member list beta:role.readers'],
  'admin member remove': ['tessera admin member remove beta:role.readers alpha.api'],
  'admin signing-keys': ['tessera admin signing-keys rotate'],
  'admin signing-keys rotate': ['tessera admin signing-keys rotate'],
  'admin reviews': ['tessera admin reviews list', 'tessera admin reviews extend beta:role.readers/alpha.api --review-by 90d'],
  'admin reviews list': ['tessera admin reviews list', 'tessera admin reviews list --within 30d --json'],
  'admin reviews extend': [
    'tessera admin reviews extend beta:role.readers/alpha.api beta:role.writers/alpha.ci --review-by 90d --reason "quarterly review"',
    'tessera admin reviews extend --file reviewed.txt --review-by 2031-01-01 --expires-at 365d',
  ],
  'admin reviews remove': ['tessera admin reviews remove beta:role.readers/alpha.old --reason "left the team"'],
  'admin callers': ['tessera admin callers list beta', 'tessera admin callers series beta --since 7d'],
  'admin callers list': ['tessera admin callers list beta', 'tessera admin callers list beta --since 7d --json'],
  'admin callers series': ['tessera admin callers series beta --since 24h', 'tessera admin callers series beta --principal alpha.api'],
  'admin approvals': ['tessera admin approvals list beta', 'tessera admin approvals approve chg_0123456789abcdef'],
  'admin approvals list': ['tessera admin approvals list beta'],
  'admin approvals approve': ['tessera admin approvals approve chg_0123456789abcdef --reason "checked with the team"'],
  'admin approvals reject': ['tessera admin approvals reject chg_0123456789abcdef --reason "not needed"'],
  'admin audit': ['tessera admin audit list --since 24h'],
  'admin audit list': [
    'tessera admin audit list --since 24h',
    'tessera admin audit list --principal alpha.api --type service.update --limit 20',
    'tessera admin audit list --domain beta --target beta:role.readers',
  ],
  token: [
    'tessera token --client-id alpha.api --client-secret-file alpha.secret --scope beta:role.readers',
    'tessera token --client-id alpha.worker --key worker.pem --kid k1 --scope beta:domain',
    'tessera token --cert cert.pem --key key.pem --scope beta:role.readers --decode',
    'tessera token --client-id beta.api --client-secret-file beta.secret --scope gamma:readers --on-behalf-of @caller.jwt   # acts for the caller',
    'tessera token --client-id edge.gw --client-secret-file gw.secret --scope orders:readers --proxy-for alpha.api   # proxy_for_principal',
  ],
  cert: ['tessera cert --principal alpha.api --join-token-file join.token --out-dir /etc/alpha/tls', 'tessera cert --renew --out-dir /etc/alpha/tls --watch'],
  backup: [
    'tessera backup --data-dir /var/lib/tessera --out /var/backups/tessera.tar',
    'tessera backup --config /etc/tessera/tessera.json --out tessera.tar --json',
  ],
  restore: ['tessera restore --from /var/backups/tessera.tar --data-dir /var/lib/tessera-restored --master-key-file /etc/tessera/master.key'],
  'recover-admin': ['tessera recover-admin --data-dir /var/lib/tessera', 'tessera recover-admin --config /etc/tessera/tessera.json --out /root/admin.json'],
  gateway: ['tessera gateway --config /etc/tessera-gateway/gateway.json', 'TESSERA_GATEWAY_CONFIG=gateway.json tessera gateway'],
  verify: ['tessera verify "$TOKEN" --audience beta --scope beta:role.readers', 'tessera verify "$ID_TOKEN" --id-token --audience alpha.api --json'],
};

/** A command's path below the program: `admin member add`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) names.unshift(current.name());
  return names.join(' ');
}

/** Adds the examples of EXAMPLES to every command of the tree under `program`. */
export function addExamples(program: Command): void {
  const visit = (command: Command): void => {
    const examples = EXAMPLES[commandPath(command)];
    if (examples !== undefined) command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}`);
    for (const sub of command.commands) visit(sub);
  };
  for (const command of program.commands) visit(command);
}

/** Option descriptions that say `(required)` for the options a command cannot run without. */
export function optionDescription(this: Help, option: Option): string {
  const text = Help.prototype.optionDescription.call(this, option);
  return option.mandatory ? `(required) ${text}` : text;
}

// tessera token: the `zts-accesstoken` job (docs/cli.md). Gets an access token with the client
// credentials grant and prints it alone on stdout, so `TOKEN=$(tessera token …)` works. With
// --on-behalf-of it exchanges a subject's token (RFC 8693), with --proxy-for it asks for a
// principal's token (Athenz's proxy_for_principal): both through the SDK's one-shot request.

import { Option } from 'commander';
import type { Command } from 'commander';

import { parsePositiveInteger } from '../admin/arguments.ts';
import { requestToken, resolveClientAuth } from '../client-auth.ts';
import type { ClientAuthFlags } from '../client-auth.ts';
import { DEFAULT_SERVER, addConnectionOptions, openHttpClient } from '../connection.ts';
import type { ConnectionFlags } from '../connection.ts';
import { credentialTarget } from '../credentials.ts';
import { CliError, UsageError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { readInputFile } from '../files.ts';
import { decodeUnverified } from '../jwt-display.ts';
import { formatJson } from '../output.ts';

interface TokenOptions extends ConnectionFlags, ClientAuthFlags {
  scope: string;
  expiresIn?: number;
  idToken?: boolean;
  json?: boolean;
  decode?: boolean;
  onBehalfOf?: string;
  subjectTokenType?: 'access_token' | 'id_token';
  impersonation?: boolean;
  proxyFor?: string;
}

export function registerTokenCommand(program: Command, io: CliIo): void {
  const token = program
    .command('token')
    .description('get an access token (client credentials grant; or acting for another principal) and print it')
    .requiredOption('--scope <scope>', 'what to ask for: <d>:domain, <d>:role.<r>, <d>:<r>, openid <d>:service.<s>')
    .option('--client-id <id>', "the service's principal, e.g. alpha.api")
    .option('--client-secret-file <file>', 'file holding the client secret (client_secret_basic)')
    .option('--key <file>', 'PEM private key: signs a private_key_jwt assertion, or with --cert the TLS key')
    .option('--kid <id>', 'the id the public key is registered under (with --key)')
    .option('--cert <file>', 'PEM client certificate presented over TLS (tls_client_auth); the client id defaults to its CN')
    .option('--credentials <file>', 'client credential file {"clientId","clientSecret","tokenEndpoint"?}')
    .option('--expires-in <seconds>', 'ask for this lifetime (the server may cap it)', parsePositiveInteger)
    .option('--id-token', 'print the ID token instead (needs openid and <d>:service.<s> in --scope)')
    .addOption(
      new Option(
        '--on-behalf-of <token>',
        'exchange this access token (RFC 8693) for one acting for its subject; @file reads it from a file, - from stdin',
      ).conflicts(['proxyFor', 'idToken']),
    )
    .addOption(
      new Option(
        '--subject-token-type <type>',
        'with --on-behalf-of: id_token when it is an ID token issued for this client (roles that set idTokenSubjects); default access_token',
      ).choices(['access_token', 'id_token']),
    )
    .option('--impersonation', 'with --on-behalf-of: ask for an impersonation token (no act claim; roles listing you in impersonators)')
    .addOption(new Option('--proxy-for <principal>', "a token for this principal, acting for it (Athenz's proxy_for_principal)").conflicts('idToken'))
    .addOption(new Option('--json', 'print the whole token response as JSON').conflicts('decode'))
    .option('--decode', "print the token's header and claims as JSON (not verified)");
  addConnectionOptions(token)
    .addHelpText(
      'after',
      `
Exactly one client credential:
  --client-id I --client-secret-file F    client_secret_basic
  --client-id I --key K --kid ID          private_key_jwt (key type picks ES256, ES384, EdDSA or RS256)
  --cert C --key K [--client-id I]        tls_client_auth (mTLS)
  --credentials F                         client_secret_basic from a credential file
Acting for another principal (a role of the scope must list the client in its actors):
  --on-behalf-of T|@F|-                   token exchange of the subject's access token (sent to this client's domain)
  --on-behalf-of T --subject-token-type id_token   the same with an ID token issued for this client
  --proxy-for P                           proxy_for_principal: P's roles that the client holds too
Without --server (TESSERA_SERVER, profile), the server is the credential file's tokenEndpoint, else ${DEFAULT_SERVER}.`,
    )
    .action(async (options: TokenOptions) => {
      await getToken(options, io);
    });
}

async function getToken(options: TokenOptions, io: CliIo): Promise<void> {
  const scope = options.scope.trim().split(/\s+/).join(' ');
  if (scope === '') throw new UsageError('--scope is empty; name what the token is for, e.g. --scope beta:domain');
  if (options.idToken === true) requireIdTokenScope(scope);
  if (options.impersonation === true && options.onBehalfOf === undefined) {
    throw new UsageError('--impersonation needs --on-behalf-of, the access token of the principal to impersonate');
  }
  if (options.subjectTokenType !== undefined && options.onBehalfOf === undefined) {
    throw new UsageError('--subject-token-type needs --on-behalf-of, the token to exchange');
  }
  const subjectToken = options.onBehalfOf === undefined ? undefined : await readSubjectToken(options.onBehalfOf, io);
  const proxyForPrincipal = options.proxyFor?.trim();
  if (proxyForPrincipal !== undefined && !/^[^\s:]+\.[^\s:]+$/.test(proxyForPrincipal)) {
    throw new UsageError(`--proxy-for needs a principal, <domain>.<service> (e.g. alpha.api), not ${JSON.stringify(options.proxyFor)}`);
  }
  const auth = await resolveClientAuth(options, io.cwd);
  const { tokenEndpoint } = credentialTarget(options.server, auth.method === 'client_secret_basic' ? auth.tokenEndpoint : undefined, io);
  if (auth.method === 'tls_client_auth' && tokenEndpoint.protocol !== 'https:') {
    throw new UsageError(`--cert needs an https:// server: the certificate is presented in the TLS handshake`);
  }
  // The server the credential goes to, which may be the credential file's: ./.tessera/ca.pem is trusted only for a loopback one.
  const http = await openHttpClient({ ...options, server: tokenEndpoint.href }, io, auth.method === 'tls_client_auth' ? auth.identity : undefined);
  const response = await requestToken(http, {
    tokenEndpoint,
    scope,
    expiresIn: options.expiresIn,
    subjectToken,
    ...(options.subjectTokenType === undefined ? {} : { subjectTokenType: options.subjectTokenType }),
    impersonation: options.impersonation,
    proxyForPrincipal,
    auth,
    now: io.now ?? Date.now,
  });

  const printed = options.idToken === true ? response.id_token : response.access_token;
  if (typeof printed !== 'string' || printed === '') {
    throw new CliError(`token endpoint ${tokenEndpoint.href} answered without an id_token for scope "${scope}"`);
  }
  if (options.json === true) io.stdout.write(formatJson(response));
  else if (options.decode === true) io.stdout.write(formatJson(decodeUnverified(printed, options.idToken ? 'ID token' : 'access token')));
  else io.stdout.write(`${printed}\n`);
}

/** The subject token of --on-behalf-of: given as is, from @file, or from stdin (-). */
async function readSubjectToken(value: string, io: CliIo): Promise<string> {
  let token = value;
  if (value === '-') {
    token = '';
    for await (const chunk of io.stdin ?? []) token += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  } else if (value.startsWith('@')) {
    token = await readInputFile(io.cwd, value.slice(1), 'subject token file');
  }
  token = token.trim();
  const where = value === '-' ? ' (read from stdin)' : value.startsWith('@') ? ` (read from ${value.slice(1)})` : '';
  if (token === '') throw new UsageError(`--on-behalf-of is empty${where}; give the subject's access token, @file or -`);
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    throw new UsageError(`--on-behalf-of${where} is not an access token (a JWT: three base64url parts separated by dots)`);
  }
  return token;
}

/** An ID token is issued for `openid` plus the service it is addressed to. */
function requireIdTokenScope(scope: string): void {
  const items = scope.split(' ');
  if (!items.includes('openid') || !items.some((item) => /^[^:\s]+:service\.[^\s]+$/.test(item))) {
    throw new UsageError('--id-token needs openid and <domain>:service.<name> (the ID token audience) in --scope, e.g. --scope "openid beta:service.api"');
  }
}

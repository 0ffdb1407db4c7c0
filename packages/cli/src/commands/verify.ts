// tessera verify TOKEN: checks a token the way a resource server would (docs/tokens.md, Verifying a token), with
// the SDK's verifier: the signature against the server's published JWKS, then typ, iss, aud,
// exp/nbf and the required scope items. Exit 0 and the claims when valid; exit 1 and one line
// saying why when not.

import type { Command } from 'commander';
import type { FetchLike } from '@tessera/sdk';

import { DEFAULT_SERVER, addConnectionOptions, isLoopback, openHttpClient, resolveUnder } from '../connection.ts';
import type { ConnectionFlags } from '../connection.ts';
import { CliError, UsageError } from '../errors.ts';
import type { HttpClient } from '../http-client.ts';
import type { CliIo } from '../io.ts';
import { formatClaims } from '../jwt-display.ts';
import { formatJson } from '../output.ts';
import { createVerifier } from '../sdk.ts';
import { explainRejection, missingScopeItems } from '../token-checks.ts';

/** Tessera signs with one of these (docs/tokens.md); anything else is refused before key lookup. */
export const ALLOWED_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'];

/** Bounded clock skew between this machine and the server, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 30;

interface VerifyOptions extends ConnectionFlags {
  audience?: string;
  scope?: string;
  issuer?: string;
  jwksUri?: string;
  idToken?: boolean;
  json?: boolean;
}

interface Discovery {
  issuer: string;
  jwksUri: URL;
}

export function registerVerifyCommand(program: Command, io: CliIo): void {
  const verify = program
    .command('verify')
    .description("check a token against the server's published keys and print its claims")
    .argument('<token>', 'the JWT, or - to read it from stdin')
    .option('--audience <aud>', 'require this audience (a domain for access tokens, <d>.<s> for ID tokens)')
    .option('--scope <items>', "require every space-separated item in the token's scope, e.g. beta:role.readers")
    .option('--issuer <url>', "require this issuer (default: the server's, from its discovery document)")
    .option('--jwks-uri <url>', "fetch the signing keys here (default: the discovery document's jwks_uri, on the server's or the issuer's origin)")
    .option('--id-token', 'the token is an ID token (typ JWT) rather than an access token (typ at+jwt)')
    .option('--json', 'print the claims as JSON');
  addConnectionOptions(verify)
    .addHelpText(
      'after',
      `
Exit codes: 0 valid, 1 invalid (the reason on stderr) or the server unreachable, 2 usage.
Role items match in either form: beta:readers and beta:role.readers are the same role.`,
    )
    .action(async (token: string, options: VerifyOptions) => {
      await verifyToken(token, options, io);
    });
}

async function verifyToken(argument: string, options: VerifyOptions, io: CliIo): Promise<void> {
  if (options.idToken === true && options.scope !== undefined) {
    throw new UsageError('--scope cannot be checked on an ID token, which carries no scope; drop --scope or --id-token');
  }
  const token = argument === '-' ? await readStdinToken(io) : argument.trim();
  if (token === '') throw new UsageError('the token is empty');

  const server = new URL(options.server ?? DEFAULT_SERVER);
  if (!fetchableInClear(server)) {
    throw new UsageError(
      `verify needs an https:// server (http only to localhost, 127.x.x.x or [::1]), got ${server.href}: a discovery document and keys read in clear could be anyone's`,
    );
  }
  const given = options.jwksUri === undefined ? undefined : parseJwksUri(options.jwksUri);
  const http = await openHttpClient(options, io);
  const discovery = await discover(http, server);
  const jwksUri = given ?? checkedJwksUri(discovery, server, options.issuer);
  const expected = {
    issuer: options.issuer ?? discovery.issuer,
    audience: options.audience,
    typ: options.idToken === true ? 'JWT' : 'at+jwt',
  };
  const explained = { ...expected, server: server.href.replace(/\/$/, ''), jwksUri: jwksUri.href };

  let claims: Readonly<Record<string, unknown>>;
  try {
    // The required claims, typ and algorithms are the verifier's (tokenType); the audience is
    // compared only when given. No cache and no size limit: one token, shown whatever it is.
    const verifier = createVerifier({
      issuer: expected.issuer,
      ...(options.audience === undefined ? { anyAudience: true } : { audience: options.audience }),
      tokenType: options.idToken === true ? 'id_token' : 'access_token',
      jwksUri: jwksUri.href,
      fetch: fetchThrough(http),
      algorithms: ALLOWED_ALGORITHMS,
      clockSkew: CLOCK_TOLERANCE_SECONDS,
      cacheSize: 0,
      maxTokenSize: Number.MAX_SAFE_INTEGER,
      now: io.now ?? Date.now,
    });
    ({ claims } = await verifier.verify(token));
  } catch (error) {
    throw explainRejection(error, token, explained);
  }

  const missing = missingScopeItems(options.scope, claims.scope);
  if (missing.length > 0) {
    const has = typeof claims.scope === 'string' && claims.scope !== '' ? claims.scope : 'none';
    throw new CliError(`invalid token: missing scope ${missing.join(' ')} (the token has: ${has})`);
  }

  io.stdout.write(options.json === true ? formatJson(claims) : formatClaims(claims));
  if (options.audience === undefined) {
    io.stderr.write('note: the audience was not checked; pass --audience to make sure the token is meant for you\n');
  }
}

async function readStdinToken(io: CliIo): Promise<string> {
  let text = '';
  for await (const chunk of io.stdin ?? []) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  }
  return text.trim();
}

/** RFC 8414 / OpenID Connect Discovery: where the keys are and which issuer signs. */
async function discover(http: HttpClient, server: URL): Promise<Discovery> {
  const url = resolveUnder(server, '/.well-known/openid-configuration');
  const { body } = await http.send({ method: 'GET', url, label: `discovery request to ${url.href}` });
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const { issuer, jwks_uri: jwksUri } = fields;
  if (typeof issuer !== 'string' || issuer === '' || typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    throw new CliError(`${url.href} is not a discovery document with an issuer and a jwks_uri; is --server a Tessera server?`);
  }
  return { issuer, jwksUri: new URL(jwksUri) };
}

/** https, or http that never leaves the machine: keys fetched in clear elsewhere could be swapped on the way. */
function fetchableInClear(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
}

function parseJwksUri(value: string): URL {
  if (!URL.canParse(value)) throw new UsageError(`--jwks-uri is not a URL: ${JSON.stringify(value)}`);
  const url = new URL(value);
  if (!fetchableInClear(url)) {
    throw new UsageError(`--jwks-uri must be https:// (http only to localhost, 127.x.x.x or [::1]), got ${url.href}: keys read in clear could be anyone's`);
  }
  return url;
}

/**
 * The discovery document's jwks_uri, when it is where the server's keys would be: https (or http
 * on this machine), on the origin of the server asked or of the issuer. Elsewhere, whoever
 * answers there would vouch for tokens; --jwks-uri names such a place on purpose.
 */
function checkedJwksUri(discovery: Discovery, server: URL, issuer: string | undefined): URL {
  const { jwksUri } = discovery;
  const named = `the discovery document of ${server.origin} names the jwks_uri ${jwksUri.href}`;
  if (!fetchableInClear(jwksUri)) {
    throw new CliError(`${named}, plain http to a host that is not this machine: keys read in clear could be anyone's; refusing to verify against them`);
  }
  const origins = new Set([server.origin]);
  for (const candidate of [discovery.issuer, issuer]) {
    if (candidate !== undefined && URL.canParse(candidate)) origins.add(new URL(candidate).origin);
  }
  if (!origins.has(jwksUri.origin)) {
    throw new CliError(
      `${named}, which is on neither the server's nor the issuer's origin (${[...origins].join(', ')}); if the keys are really there, pass --jwks-uri ${jwksUri.href}`,
    );
  }
  return jwksUri;
}

/** The verifier fetches the JWKS through the CLI's client, so --cacert and --timeout apply to it too. */
function fetchThrough(http: HttpClient): FetchLike {
  return async (url) => {
    const response = await http.send({ method: 'GET', url: new URL(url), label: `JWKS request to ${url}` });
    const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
    return new Response(response.status === 200 ? text : null, {
      status: response.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

// Which client credential `tessera token` authenticates with (docs/cli.md): exactly one of a
// client secret (client_secret_basic), a registered private key (private_key_jwt) or a
// certificate (tls_client_auth). Resolved from the flags before anything goes on the wire.

import { CLIENT_ASSERTION_TYPE, TokenClientError, basicAuthorization, requestTokenResponse, signClientAssertion } from './sdk.ts';
import type { RequestProof, TokenEndpointResponse, TokenTransport } from '@tessera/sdk';

import { readClientCertificate } from './client-certificate.ts';
import type { TlsIdentity } from './connection.ts';
import { loadCredentials } from './credentials.ts';
import { CliError, UsageError, describeError } from './errors.ts';
import { readInputFile } from './files.ts';
import type { HttpClient } from './http-client.ts';
import { readSigningKey } from './private-key.ts';
import type { SigningKey } from './private-key.ts';

export interface ClientAuthFlags {
  clientId?: string;
  clientSecretFile?: string;
  key?: string;
  kid?: string;
  cert?: string;
  credentials?: string;
}

export type ClientAuth =
  | { method: 'client_secret_basic'; clientId: string; clientSecret: string; tokenEndpoint?: URL }
  | { method: 'private_key_jwt'; clientId: string; kid: string; signing: SigningKey }
  | { method: 'tls_client_auth'; clientId: string; identity: TlsIdentity };

const CREDENTIAL_FORMS = '--client-id I --client-secret-file F, --client-id I --key K --kid ID, --cert C --key K, or --credentials F';

/** Checks the flag combination and reads the files it names. */
export async function resolveClientAuth(flags: ClientAuthFlags, cwd: string): Promise<ClientAuth> {
  const kinds = [
    flags.credentials !== undefined ? '--credentials' : undefined,
    flags.clientSecretFile !== undefined ? '--client-secret-file' : undefined,
    flags.cert !== undefined ? '--cert' : undefined,
    flags.key !== undefined && flags.cert === undefined ? '--key' : undefined,
  ].filter((kind) => kind !== undefined);
  if (kinds.length === 0) throw new UsageError(`no client credential: pass ${CREDENTIAL_FORMS}`);
  if (kinds.length > 1) {
    throw new UsageError(`${kinds.join(' and ')} are two client credentials; pass exactly one of ${CREDENTIAL_FORMS}`);
  }

  if (flags.credentials !== undefined) {
    if (flags.clientId !== undefined) {
      throw new UsageError('--client-id and --credentials both name the client; drop --client-id');
    }
    rejectKid(flags, '--credentials');
    const credentials = await loadCredentials(flags.credentials, cwd);
    return { method: 'client_secret_basic', ...credentials };
  }
  if (flags.clientSecretFile !== undefined) {
    const clientId = requireClientId(flags, '--client-secret-file');
    rejectKid(flags, '--client-secret-file');
    const clientSecret = (await readInputFile(cwd, flags.clientSecretFile, 'client secret file')).trim();
    if (clientSecret === '') throw new UsageError(`client secret file ${flags.clientSecretFile} is empty`);
    return { method: 'client_secret_basic', clientId, clientSecret };
  }
  if (flags.cert !== undefined) {
    rejectKid(flags, '--cert');
    if (flags.key === undefined) throw new UsageError('--cert needs --key, the private key of the certificate');
    const certificate = await readClientCertificate(cwd, flags.cert, flags.key);
    const clientId = flags.clientId ?? certificate.commonName;
    if (clientId === undefined) {
      throw new UsageError(`certificate ${flags.cert} has no subject CN to use as the client id; pass --client-id`);
    }
    return { method: 'tls_client_auth', clientId, identity: certificate.identity };
  }
  const keyFile = flags.key as string;
  const clientId = requireClientId(flags, '--key');
  if (flags.kid === undefined) {
    throw new UsageError('--key needs --kid, the id the public key was registered under (tessera admin key put)');
  }
  return { method: 'private_key_jwt', clientId, kid: flags.kid, signing: await readSigningKey(cwd, keyFile) };
}

function requireClientId(flags: ClientAuthFlags, flag: string): string {
  if (flags.clientId === undefined || flags.clientId === '') {
    throw new UsageError(`${flag} needs --client-id, the service's principal (e.g. alpha.api)`);
  }
  return flags.clientId;
}

function rejectKid(flags: ClientAuthFlags, flag: string): void {
  if (flags.kid !== undefined) throw new UsageError(`--kid is for --key without --cert (private_key_jwt), not for ${flag}`);
}

export interface TokenGrant {
  tokenEndpoint: URL;
  scope: string;
  expiresIn?: number;
  auth: ClientAuth;
  /** RFC 8693: exchange this access token (the token acts for its subject). */
  subjectToken?: string;
  /** With subjectToken: `id_token` when it is an ID token issued for the client. */
  subjectTokenType?: 'access_token' | 'id_token';
  /** With subjectToken: ask for an impersonation token. */
  impersonation?: boolean;
  /** Athenz's proxy_for_principal: a token for this principal, acted for by the client. */
  proxyForPrincipal?: string;
  /** Milliseconds since the epoch, for a private_key_jwt assertion. */
  now: () => number;
}

/**
 * RFC 6749 §4.4 client credentials grant (or an RFC 8693 token exchange, or one with
 * proxy_for_principal), for `admin` (a client secret) and `token` (any method):
 * the SDK's one-shot request, sent by the CLI's HTTP client (its --cacert, --timeout and TLS
 * identity), so a failure reads as every other request of the CLI does.
 */
export async function requestToken(http: HttpClient, grant: TokenGrant): Promise<TokenEndpointResponse> {
  const { tokenEndpoint } = grant;
  try {
    return await requestTokenResponse({
      tokenEndpoint: tokenEndpoint.href,
      scope: grant.scope,
      expiresIn: grant.expiresIn,
      subjectToken: grant.subjectToken,
      ...(grant.subjectTokenType === undefined ? {} : { subjectTokenType: grant.subjectTokenType }),
      impersonation: grant.impersonation,
      proxyForPrincipal: grant.proxyForPrincipal,
      prove: (audience, now) => authenticationFor(grant.auth, audience, now),
      transport: transportOver(http),
      clock: grant.now,
    });
  } catch (error) {
    // The CLI's own failures (HTTP status, no answer) come back as the cause, in its words already.
    if (error instanceof TokenClientError && error.cause instanceof CliError) throw error.cause;
    if (error instanceof TokenClientError && error.code === 'ERR_TOKEN_RESPONSE_INVALID') {
      throw new CliError(`token endpoint ${tokenEndpoint.href} answered without an access_token`, undefined, { cause: error });
    }
    throw new CliError(describeError(error), undefined, { cause: error });
  }
}

function transportOver(http: HttpClient): TokenTransport {
  return {
    async send(url, request) {
      const { status, headers, text } = await http.send({
        method: request.method,
        url: new URL(url),
        headers: request.headers,
        body: request.body,
        label: `token request to ${url}`,
      });
      return { status, header: (name) => [headers[name.toLowerCase()] ?? []].flat().join(', ') || undefined, body: text };
    },
    close() {},
  };
}

/** The headers and form parameters that authenticate one token request. */
async function authenticationFor(auth: ClientAuth, tokenEndpoint: string, now: number): Promise<RequestProof> {
  switch (auth.method) {
    case 'client_secret_basic':
      return { headers: { authorization: basicAuthorization(auth.clientId, auth.clientSecret) }, form: {} };
    case 'private_key_jwt': {
      const { key, alg } = auth.signing;
      const assertion = await signClientAssertion(key, { clientId: auth.clientId, kid: auth.kid, audience: tokenEndpoint, alg, now });
      return {
        headers: {},
        form: { client_id: auth.clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion },
      };
    }
    case 'tls_client_auth':
      // RFC 8705 §2: the certificate authenticates; client_id says which client it is for.
      return { headers: {}, form: { client_id: auth.clientId } };
  }
}

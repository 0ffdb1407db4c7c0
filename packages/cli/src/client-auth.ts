// Which client credential `tessera token` authenticates with (docs/cli.md): exactly one of a
// client secret (client_secret_basic), a registered private key (private_key_jwt) or a
// certificate (tls_client_auth). Resolved from the flags before anything goes on the wire.

import { CLIENT_ASSERTION_TYPE, basicAuthorization, signClientAssertion } from './sdk.ts';

import { readClientCertificate } from './client-certificate.ts';
import type { TlsIdentity } from './connection.ts';
import { loadCredentials } from './credentials.ts';
import { UsageError } from './errors.ts';
import { readInputFile } from './files.ts';
import { readSigningKey } from './private-key.ts';
import type { SigningKey } from './private-key.ts';
import type { ClientAuthentication } from './token-request.ts';

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

const CREDENTIAL_FORMS =
  '--client-id I --client-secret-file F, --client-id I --key K --kid ID, --cert C --key K, or --credentials F';

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

/** The headers and form parameters that authenticate one token request. */
export async function authenticationFor(auth: ClientAuth, tokenEndpoint: URL, now: number): Promise<ClientAuthentication> {
  switch (auth.method) {
    case 'client_secret_basic':
      return { headers: { authorization: basicAuthorization(auth.clientId, auth.clientSecret) } };
    case 'private_key_jwt': {
      const { key, alg } = auth.signing;
      const assertion = await signClientAssertion(key, { clientId: auth.clientId, kid: auth.kid, audience: tokenEndpoint.href, alg, now });
      return {
        form: { client_id: auth.clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion },
      };
    }
    case 'tls_client_auth':
      // RFC 8705 §2: the certificate authenticates; client_id says which client it is for.
      return { form: { client_id: auth.clientId } };
  }
}

// What the three framework adapters share: reading the credential from the Authorization header
// (RFC 6750 §2.1, and `ApiKey` when the verifier accepts API keys), taking the caller's TLS
// certificate from the socket for certificate-bound tokens, and turning a refusal into an
// RFC 6750 §3 answer: status, `WWW-Authenticate` challenge and a JSON body with `error_code`.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthContext, Verifier } from '../verifier/create-verifier.ts';
import { InsufficientScopeError, InvalidRequestError, MissingTokenError, type VerifierError } from '../verifier/errors.ts';
import type { CertificateInput } from '../verifier/options.ts';
import type { CompiledRequirement } from '../verifier/roles.ts';

export interface AuthOptions {
  /** The challenge's `realm` (default: the verifier's audience). */
  realm?: string;
  /** Accept `Authorization: ApiKey tsk_…` (default: when the verifier is configured for API keys). */
  apiKeys?: boolean;
  /**
   * The caller's client certificate, for certificate-bound tokens. Default: the TLS socket's peer
   * certificate. Behind a TLS-terminating proxy, read it from wherever the proxy puts it, and
   * only from requests that came through the proxy.
   */
  peerCertificate?: (request: IncomingMessage) => CertificateInput | null | undefined;
}

export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string; error_code: string };
}

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const AUTHORIZATION = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:[ \t]+(.*))?$/s;

export interface Authenticator {
  readonly realm: string;
  /** The caller's AuthContext; throws a VerifierError when the request must be refused. */
  authenticate(request: IncomingMessage, requirement: CompiledRequirement): Promise<AuthContext>;
  /** Whether `value` is an AuthContext this authenticator produced (so a route-level check can reuse it). */
  produced(value: unknown): value is AuthContext;
  refusal(error: VerifierError): Refusal;
}

export function createAuthenticator(verifier: Verifier, options: AuthOptions = {}): Authenticator {
  const realm = options.realm ?? verifier.audience.join(' ');
  const acceptApiKeys = options.apiKeys ?? verifier.acceptsApiKeys;
  if (acceptApiKeys && !verifier.acceptsApiKeys) throw new TypeError('apiKeys: true needs a verifier created with the apiKeys option');
  const peerCertificate = options.peerCertificate ?? socketCertificate;
  const accepted = acceptApiKeys ? '"Authorization: Bearer <token>" or "Authorization: ApiKey <key>"' : '"Authorization: Bearer <token>"';
  const contexts = new WeakSet<AuthContext>();

  return {
    realm,
    produced(value): value is AuthContext {
      return typeof value === 'object' && value !== null && contexts.has(value as AuthContext);
    },
    async authenticate(request, requirement) {
      const header = request.headers.authorization;
      if (header === undefined || header.trim() === '') throw new MissingTokenError(`this request needs an access token: send ${accepted}`);
      const match = AUTHORIZATION.exec(header.trim());
      if (!match?.[1]) throw new InvalidRequestError(`the Authorization header is malformed (RFC 7235 section 2.1); send ${accepted}`);
      const scheme = match[1].toLowerCase();
      const credential = match[2]?.trim() ?? '';
      if (scheme !== 'bearer' && !(scheme === 'apikey' && acceptApiKeys)) {
        throw new MissingTokenError(`this service accepts ${accepted}; the request used "${match[1].slice(0, 20)}"`);
      }
      if (credential === '') throw new InvalidRequestError(`the Authorization header names ${match[1]} but carries no credential after it`);
      if (!B64TOKEN.test(credential)) {
        throw new InvalidRequestError(`the credential holds characters a token cannot have (RFC 6750 section 2.1); send it alone after "${match[1]} "`);
      }
      const verifyOptions = { requirement, peerCertificate: () => peerCertificate(request) };
      const context = scheme === 'bearer' ? await verifier.verify(credential, verifyOptions) : await verifier.verifyApiKey(credential, verifyOptions);
      contexts.add(context);
      return context;
    },
    refusal(error) {
      return refusal(error, realm);
    },
  };
}

export function refusal(error: VerifierError, realm: string): Refusal {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (error.status === 503) {
    headers['retry-after'] = '5';
  } else {
    // RFC 6750 §3.1: a request without any credential gets a challenge with no error attribute.
    const params = [`realm="${headerSafe(realm)}"`];
    if (error.error !== null) params.push(`error="${error.error}"`, `error_description="${headerSafe(error.message)}"`);
    if (error instanceof InsufficientScopeError) params.push(`scope="${headerSafe(error.requiredScope.join(' '))}"`);
    headers['www-authenticate'] = `Bearer ${params.join(', ')}`;
  }
  return {
    status: error.status,
    headers,
    body: { error: error.error ?? 'unauthorized', error_description: headerSafe(error.message), error_code: error.code },
  };
}

/**
 * RFC 6750 §3 (and RFC 6749 §5.2 for error_description): quoted values hold %x20-21 / %x23-5B /
 * %x5D-7E only; used for the challenge and the body alike. The server's errorDescription() keeps
 * the same rule; the SDK has its own copy because it cannot depend on the server package.
 */
function headerSafe(text: string): string {
  const safe = text
    .replaceAll('"', "'")
    .replaceAll('\\', '/')
    .replace(/[^\x20-\x7e]/g, '?');
  return safe.length > 300 ? `${safe.slice(0, 297)}...` : safe;
}

function socketCertificate(request: IncomingMessage): CertificateInput | null {
  const socket = request.socket as Partial<TLSSocket>;
  return typeof socket.getPeerX509Certificate === 'function' ? (socket.getPeerX509Certificate() ?? null) : null;
}

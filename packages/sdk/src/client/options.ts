// The public shapes of the token client: how it is configured and what a caller asks for.

import type { KeyObject } from 'node:crypto';
import type { Agent } from 'node:http';
import type { AuthContext } from '../verifier/create-verifier.ts';
import type { TokenClientError } from './errors.ts';

/** `client_secret_basic` (default) or `client_secret_post` with a client secret. */
export interface SecretCredentials {
  clientId: string;
  clientSecret: string;
  /** How the secret travels; `client_secret_basic` (HTTP Basic) unless told otherwise. */
  method?: 'client_secret_basic' | 'client_secret_post';
}

/**
 * `private_key_jwt` (RFC 7523): every token request carries a fresh assertion signed with a key
 * registered on the service, so no secret is ever sent.
 */
export interface PrivateKeyCredentials {
  clientId: string;
  /** The private key, as a `KeyObject` or PKCS#8/SEC1/PKCS#1 PEM. */
  privateKey: KeyObject | string;
  /** The `kid` the public key was registered under. */
  kid: string;
  /**
   * JWS algorithm of the assertion. Defaults from the key: ES256/ES384 for EC P-256/384, EdDSA
   * for Ed25519, RS256 for RSA. The key must be one Tessera registers: P-256, P-384, Ed25519 or
   * RSA of 2048 to 8192 bits (a P-521 key is refused, as the server refuses it).
   */
  alg?: string;
}

/** A PEM certificate (leaf first, intermediates after it) and its PEM private key. */
export interface CertificateMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * A certificate that changes over time, e.g. the SDK's certificate refresher: `current()` gives
 * the certificate to use now, and `renewed` fires after it changed.
 */
export interface CertificateSource {
  current(): CertificateMaterial;
  on(event: 'renewed', listener: () => void): unknown;
  /** Called by `close()` to detach; `removeListener` is used when `off` is missing. */
  off?(event: 'renewed', listener: () => void): unknown;
  removeListener?(event: 'renewed', listener: () => void): unknown;
}

/**
 * mTLS (`tls_client_auth`, RFC 8705): the token request presents a TLS client certificate and
 * the tokens are bound to it (`cnf.x5t#S256`). When the certificate changes, cached tokens are
 * dropped and the ones in use are fetched again with the new certificate.
 */
export interface CertificateCredentials {
  /**
   * A fixed PEM certificate (then `key` is required), a function called before each use that
   * returns the current certificate and key, or a {@link CertificateSource}.
   */
  certificate: string | Buffer | (() => CertificateMaterial) | CertificateSource;
  /** The PEM private key (or `KeyObject`) of a fixed `certificate`. */
  key?: string | Buffer | KeyObject;
  /** Sent as `client_id`; defaults to the certificate's subject CN (the principal). */
  clientId?: string;
}

/** One of the three ways a service proves who it is. */
export type Credentials = SecretCredentials | PrivateKeyCredentials | CertificateCredentials;

/** A minimal `fetch`: the token client calls it with a URL string and a plain init object; it must honour `redirect: 'manual'`. */
export type TokenClientFetch = (
  input: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal; redirect?: 'manual' },
) => Promise<Response>;

/** Bounds on retrying network errors, 5xx, 408 and 429. */
export interface RetryOptions {
  /** Attempts per token request, the first included (default 4). */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled each retry and jittered to 50–100 % (default 200). */
  baseDelayMs?: number;
  /** Cap on one backoff delay in ms (default 5,000). */
  maxDelayMs?: number;
  /**
   * Cap on the whole request, retries and waits included, in ms (default 15,000). A `Retry-After`
   * that would end past it ends the retries at once.
   */
  maxTotalMs?: number;
}

/** Configuration of {@link createTokenClient}. Give `tokenEndpoint` or `issuer`. */
export interface TokenClientOptions {
  /** The token endpoint URL, e.g. `https://tessera.internal:8443/oauth2/token`. */
  tokenEndpoint?: string;
  /** The issuer; the token endpoint is read from its RFC 8414 metadata on first use. */
  issuer?: string;
  credentials: Credentials;
  /**
   * PEM trust anchors for the server's certificate (Tessera's `ca.pem`); Node's list otherwise.
   * With an https server, the client also trusts Tessera's trust bundle (`/ca/v1/bundle`), fetched
   * over a connection `ca` (or the last bundle) verified, so it keeps talking to Tessera after a
   * CA rotation: see `bundleRefresh`.
   */
  ca?: string | Buffer;
  /**
   * How often, at most, Tessera's trust bundle is fetched again when `ca` is given, in seconds
   * (default 3,600). The fetch happens in the background of a request that needs the server, and a
   * failed one keeps the trust it had. Keep it well under the server's `ca.prePublication`
   * (24 h by default), the time a new CA root is published before Tessera's certificate chains to
   * it. 0 trusts `ca` alone.
   */
  bundleRefresh?: number;
  /**
   * A `fetch` to send token requests with instead of the built-in node:https client. It cannot
   * present a client certificate, so it is refused with certificate credentials.
   */
  fetch?: TokenClientFetch;
  /** An http(s) `Agent` for the built-in client; the caller owns it and `close()` leaves it open. */
  agent?: Agent;
  /** Milliseconds since the epoch; `Date.now` by default. */
  clock?: () => number;
  retry?: RetryOptions;
  /** Limit on one attempt, in ms (default 10,000): socket inactivity, or the whole fetch with `fetch`. */
  requestTimeoutMs?: number;
  /**
   * After the server refuses a request (400, 401, 403 or another 4xx except 408 and 429), further
   * calls for the same token get the same error without a request for this long, in ms
   * (default 10,000; 0 asks again every time).
   */
  rejectionTtlMs?: number;
  /** Tokens acting for callers (`onBehalfOf`) held at most (default 10,000); the oldest go first. */
  maxOnBehalfOf?: number;
  /** Told about failures of background refreshes, which no caller awaits. */
  onRefreshError?: (error: TokenClientError, scope: string) => void;
}

/** Ask for explicit scope items (docs/tokens.md, Scopes), e.g. `beta:domain` or `beta:role.readers gamma:write`. */
export interface ScopeRequest {
  scope: string;
  /** Requested lifetime in seconds; the server may grant less. */
  expiresIn?: number;
  /** A token acting for this caller: see {@link OnBehalfOf}. */
  onBehalfOf?: OnBehalfOf;
}

/**
 * The caller a token acts for (RFC 8693 token exchange): its access token (the JWT alone); an ID
 * token Tessera issued for this service, as `{ idToken }` (where the target roles set
 * `idTokenSubjects`); or the `AuthContext` this SDK's verifier or middleware made of either
 * (`request.auth`, `caller`). The token got names the caller as `sub` and this client as
 * `act.sub`; it is cached per subject token and scope, by the token client's rules.
 */
export type OnBehalfOf = string | { idToken: string } | AuthContext;

/** Ask for roles of one domain: all the caller holds (`<domain>:domain`) or the named ones. */
export interface DomainRequest {
  domain: string;
  roles?: readonly string[];
  /** Requested lifetime in seconds; the server may grant less. */
  expiresIn?: number;
  /** A token acting for this caller: see {@link OnBehalfOf}. */
  onBehalfOf?: OnBehalfOf;
}

/** What {@link TokenClient.getAccessToken} is asked for. */
export type AccessTokenRequest = ScopeRequest | DomainRequest;

/** How {@link TokenClient.getAccessToken} may bypass the cache. */
export interface GetAccessTokenOptions {
  /** Fetch a new token even when the cached one is fresh. */
  forceRefresh?: boolean;
  /**
   * With `forceRefresh`: the token a resource server refused. When the cache already holds a
   * different valid token (another caller refreshed meanwhile), that one is returned without a
   * request, so many callers refused at once cause one refresh.
   */
  rejectedToken?: string;
}

/** A client that gets, caches and refreshes access tokens. */
export interface TokenClient {
  /** An access token for the request: from the cache while ≥ 1/4 of its life remains, else fetched. */
  getAccessToken(request: AccessTokenRequest, options?: GetAccessTokenOptions): Promise<string>;
  /** Stops every timer, aborts requests in flight and closes idle sockets; later calls fail. */
  close(): Promise<void>;
}

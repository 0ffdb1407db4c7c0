// The public shapes of the certificate refresher: how it is configured, what it tells listeners
// and what it offers to TLS clients, TLS servers and the token client.

import type { KeyObject } from 'node:crypto';
import type { Agent, AgentOptions } from 'node:https';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import type { CertificateMaterial } from '../client/options.ts';
import type { CaClient } from './ca-client.ts';
import type { CertificateRefresherError } from './errors.ts';
import type { KeyType } from './keys.ts';

/** A one-time join token from `POST /admin/v1/join-tokens` (SPIRE `join_token`, Athenz "Copper Argos"). */
export interface JoinTokenBootstrap {
  joinToken: string;
}

/**
 * A key registered on the service (`zts-svccert`): the first CSR carries this key, and the request
 * is proven by an assertion it signs. Usable again if the certificate ever expires unrenewed.
 */
export interface RegisteredKeyBootstrap {
  /** The private key, as a `KeyObject` or PKCS#8/SEC1/PKCS#1 PEM. */
  privateKey: KeyObject | string;
  /** The `kid` the public key was registered under. */
  kid: string;
}

/**
 * A token of an OIDC issuer Tessera trusts (e.g. a Kubernetes service-account token). Called
 * for every attempt, since such tokens are short-lived and rewritten by the platform.
 */
export interface OidcTokenBootstrap {
  oidcToken: () => Promise<string>;
}

/** How the first certificate is obtained; later ones are renewals over mutual TLS. */
export type CertificateBootstrap = JoinTokenBootstrap | RegisteredKeyBootstrap | OidcTokenBootstrap;

/** Configuration of {@link createCertificateRefresher}. */
export interface CertificateRefresherOptions {
  /** Tessera's URL, which is also its issuer, e.g. `https://tessera.internal:8443`. */
  server: string;
  /** PEM trust anchors for Tessera's TLS certificate (its `ca.pem`); optional with `caClient`. */
  ca?: string | Buffer;
  /** The service the certificate is for, `<domain>.<service>`. */
  principal: string;
  /**
   * How the first certificate is proven. May be left out with `outDir` holding a valid
   * certificate for `principal`: the refresher then only renews it, and fails to start without it.
   */
  bootstrap?: CertificateBootstrap;
  /**
   * Talks to Tessera's CA instead of the built-in HTTPS client (`server` and `ca` then only name
   * the certificate endpoint): for a tool with an HTTPS client of its own. Its errors should be
   * CertificateRefresherErrors: `ERR_CA_UNAVAILABLE` is retried, anything else is final at start.
   */
  caClient?: CaClient;
  /** The private key of the first certificate request, instead of a new one (with `joinToken` or `oidcToken`). */
  key?: KeyObject | string;
  /**
   * Attempts at the first certificate while the CA does not answer (`ERR_CA_UNAVAILABLE`) before
   * start fails (default 4); `Infinity` keeps trying until it works or `signal` aborts. Each
   * failed attempt is a `failed` event (see `listeners`).
   */
  bootstrapAttempts?: number;
  /** Listeners added before start, so they also hear of failed attempts at the first certificate. */
  listeners?: { [E in keyof CertificateRefresherEvents]?: (payload: CertificateRefresherEvents[E]) => void };
  /** Aborting it is `close()`; before start has resolved, start rejects with `ERR_REFRESHER_CLOSED`. */
  signal?: AbortSignal;
  /** The timers it waits with (default the global setTimeout and clearTimeout); for tests and tools with a clock of their own. */
  timers?: RefresherTimers;
  /** A number in [0, 1) for the jitter and backoff (default Math.random). */
  random?: () => number;
  /**
   * Where to keep `key.pem` (0600), `cert.pem` (leaf and intermediates), `chain.pem` and `ca.pem`,
   * each replaced atomically; the layout of `tessera cert`. A valid certificate found there at
   * start is used instead of bootstrapping again (a join token works only once).
   */
  outDir?: string;
  /** Type of the keys the refresher makes (default `p256`). */
  keyType?: KeyType;
  /** A new key for every renewal (default true); false keeps the key and renews only the certificate. */
  rotateKey?: boolean;
  /** Share of a certificate's lifetime after which it is renewed (default 2/3). */
  renewAt?: number;
  /**
   * How far the renewal point moves, as a share of itself, either way (default 0.1): with the
   * defaults a certificate is renewed between 60 % and 73 % of its lifetime, so a fleet started
   * together does not renew together.
   */
  jitter?: number;
  /** Milliseconds since the epoch; `Date.now` by default. */
  clock?: () => number;
  /** Limit on one request to the CA, in ms (default 10,000). */
  requestTimeoutMs?: number;
  /**
   * Seconds between fetches of Tessera's trust bundle (`/ca/v1/bundle`) besides the one of every
   * renewal (default 3,600). A CA rotation publishes its new root `ca.prePublication` (24 h by
   * default) before it signs; a certificate renewed less often than that would otherwise leave
   * the servers and agents of this refresher refusing peers of the new generation. A changed
   * bundle is installed in {@link CertificateRefresher.tlsOptions}, attached servers, agents and
   * `ca.pem`, and announced by `bundle`; a failed fetch keeps the bundle held. 0 fetches it only
   * on renewal.
   */
  bundleRefresh?: number;
}

/** Timers as the refresher uses them; a handle's `unref()` is called when it has one. */
export interface RefresherTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** What the refresher holds now, for logs and health checks. */
export interface CertificateInfo {
  principal: string;
  /** The certificate's SPIFFE ID, e.g. `spiffe://tessera.local/alpha/api`, or null when it has none. */
  spiffeId: string | null;
  /** Lower-case hex, as Tessera's admin API and CRL name serials. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** `x5t#S256` (RFC 8705): what certificate-bound tokens carry in `cnf`. */
  thumbprint: string;
  /** When the refresher plans to renew it. */
  renewAt: Date;
}

/** Payload of `renewed`: the certificate now in use and the one it replaced. */
export interface RenewedEvent {
  certificate: CertificateInfo;
  previous: CertificateInfo;
}

/** Payload of `failed`: an attempt to renew (or re-bootstrap) failed. */
export interface FailedEvent {
  error: CertificateRefresherError;
  /** Failed attempts in a row for this certificate, this one included. */
  attempt: number;
  /** When the next attempt happens; null when the refresher gave up (see `error.code`). */
  retryAt: Date | null;
}

/** Payload of `expiring`: renewal keeps failing and the certificate's end is near. */
export interface ExpiringEvent {
  certificate: CertificateInfo;
  remainingMs: number;
  /** The last failure. */
  error: CertificateRefresherError;
}

/** Payload of `bundle`: the trust bundle changed between renewals (a CA rotation was prepared or finished). */
export interface BundleEvent {
  /** Tessera's trust bundle now held (issuing CAs and roots, as `ca.pem`); {@link TlsMaterial.ca} has its issuing CAs. */
  ca: string;
  previous: string;
}

/** The refresher's events and their payloads. */
export interface CertificateRefresherEvents {
  renewed: RenewedEvent;
  failed: FailedEvent;
  expiring: ExpiringEvent;
  bundle: BundleEvent;
}

/** The TLS material for `https.request`, `https.createServer` or `tls.connect`. */
export interface TlsMaterial {
  /** PKCS#8 PEM private key. */
  key: string;
  /** PEM leaf certificate, then its intermediates. */
  cert: string;
  /**
   * PEM issuing CAs of Tessera's trust bundle, never a root above them: what peers' certificates
   * are checked against. An imported CA's root is the operator's and may sign other CAs, whose
   * certificates must not pass as Tessera's; the full bundle is `ca.pem` in `outDir`.
   */
  ca: string;
  /** Lets the issuing CAs in `ca` end a chain (Node ≥ 22.9): keep it next to `ca`. */
  allowPartialTrustChain: true;
}

/** A TLS server whose certificate can be replaced while it runs (`tls.Server`, `https.Server`). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * Keeps a service certificate from Tessera's CA valid, and hands the current one to TLS clients,
 * TLS servers and the token client. Also a certificate source for the token client:
 * `createTokenClient({ credentials: { certificate: refresher } })` gets certificate-bound tokens
 * and fetches new ones when the certificate is renewed.
 */
export interface CertificateRefresher {
  /** The current certificate (leaf and intermediates) and key, as PEM; the same object until the next renewal. */
  current(): CertificateMaterial & { cert: string; key: string };
  info(): CertificateInfo;
  /** The current key, certificate and trust bundle, for TLS options; a new object after a renewal or a bundle change. */
  tlsOptions(): TlsMaterial;
  /** A `tls.SecureContext` of {@link tlsOptions}, made once per certificate and trust bundle. */
  secureContext(): SecureContext;
  /**
   * An `https.Agent` that always presents the current certificate: connections made after a
   * renewal use the new one, idle connections of the old one are closed, and TLS sessions are
   * not resumed (a resumed session would carry the old certificate). It trusts Tessera's issuing
   * CAs ({@link TlsMaterial.ca}) unless `options.ca` says otherwise. `close()` destroys it.
   */
  createAgent(options?: AgentOptions): Agent;
  /**
   * Gives `server` the current certificate and trust bundle now and after every change. `extra` holds the
   * server's other context options (ciphers, minVersion, …), which `setSecureContext` would
   * otherwise drop. Returns a function that stops the updates.
   */
  attach(server: SecureContextTarget, extra?: SecureContextOptions): () => void;
  /** Renews now (sharing a renewal already under way) and resolves with the new certificate. */
  renew(): Promise<CertificateInfo>;
  on<E extends keyof CertificateRefresherEvents>(event: E, listener: (payload: CertificateRefresherEvents[E]) => void): CertificateRefresher;
  once<E extends keyof CertificateRefresherEvents>(event: E, listener: (payload: CertificateRefresherEvents[E]) => void): CertificateRefresher;
  off<E extends keyof CertificateRefresherEvents>(event: E, listener: (payload: CertificateRefresherEvents[E]) => void): CertificateRefresher;
  /** Stops every timer, aborts a renewal or trust-bundle fetch under way, destroys the agents it made; later `renew()` calls fail. */
  close(): Promise<void>;
}

// The one typed configuration object. config/load.ts builds it from defaults, a config file,
// TESSERA_* environment variables and command-line flags (later sources win) and validates it;
// everything else receives a finished Config and never reads the environment itself.

import type { LogFormat } from '../lib/log-format.ts';
import type { SigningAlg } from '../storage/records.ts';
import type { ConsoleOidcConfig } from './console-oidc.ts';

export const WORKER_DISTRIBUTIONS = ['round-robin', 'by-address'] as const;
export type WorkerDistribution = (typeof WORKER_DISTRIBUTIONS)[number];
export const SIGNING_THREADS = ['auto', 'event-loop', 'thread-pool'] as const;
export type SigningThread = (typeof SIGNING_THREADS)[number];

export interface Config {
  /** Things worth telling the operator at start that do not stop it (a mistyped TESSERA_* variable). */
  warnings?: readonly string[];
  /** Where the embedded database, master key, CA bundle and bootstrap credential live. */
  dataDir: string;
  /** `https://host:port` (default `https://127.0.0.1:8443`) or `http://host:port`. */
  listen: URL;
  /**
   * The `iss` of every token; defaults to the listen URL's origin. A listener on every interface
   * (`0.0.0.0`, `[::]`) has no such origin, so there it must be set.
   */
  issuer: string;
  /** The HTTPS listener's own certificate (docs/certificates.md, "The server's own certificate"). */
  tls: {
    /**
     * DNS names and IP addresses the self-issued certificate covers besides loopback, the listen
     * host and the issuer's host (`--tls-name`, TESSERA_TLS_NAMES, `tls.names`).
     */
    names: string[];
    /**
     * The operator's certificate (leaf first, then its chain) and private key, PEM files, served
     * instead of a certificate from Tessera's CA and reloaded when they change. Null: self-issued.
     */
    files: { certFile: string; keyFile: string } | null;
  };
  /** `sqlite` (embedded, in dataDir) or a `postgres://` URL. */
  database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /**
   * SQLite: several `tessera serve` on this one data dir on purpose (`--shared-data-dir`,
   * TESSERA_SHARED_DATA_DIR). Without it a second one is refused while the first runs
   * (lib/data-dir-lock.ts). Absent is false.
   */
  sharedDataDir?: boolean;
  /**
   * PostgreSQL: connections the instance's request pools hold at most, in all its processes
   * (`databasePoolSize`, TESSERA_DATABASE_POOL_SIZE): each of N workers gets this divided by N,
   * at least 2. Each process also holds one LISTEN connection for the registry cache.
   */
  databasePoolSize: number;
  /**
   * Where the master key comes from: TESSERA_MASTER_KEY (base64), a file, or (embedded default)
   * `<dataDir>/master.key`, generated on first start.
   */
  masterKey: { source: 'env'; value: string } | { source: 'file'; path: string; generate: boolean };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * `json` (one JSON object per line), `pretty` (time, level, message, then key=value fields) or
   * `auto` (the default): pretty when stdout is a terminal, JSON otherwise. Absent is JSON.
   */
  logFormat?: LogFormat;
  /**
   * Processes that serve requests (`--workers`, TESSERA_WORKERS, `workers`): a whole number, or
   * `auto` (the default) for one per core. 1 serves from the process itself, as a library does.
   */
  workers: number;
  /**
   * How the workers share the connections (`--worker-distribution`, TESSERA_WORKER_DISTRIBUTION,
   * `workerDistribution`). `round-robin` (the default) deals them in turn, so every worker is
   * used whatever the callers' addresses, and each worker enforces its share of the per-address
   * and per-client budgets. `by-address` sends every connection of one address to one worker,
   * whose budgets are then whole and exact per address; it cannot go with `trustedProxies`.
   */
  workerDistribution: WorkerDistribution;
  tokens: {
    /** Access token lifetime when the request has no `expires_in` (seconds). */
    defaultLifetime: number;
    /** Upper bound on any access token lifetime (seconds). */
    maxLifetime: number;
  };
  signing: {
    alg: SigningAlg;
    /** How long a key signs before the next one takes over (seconds). */
    rotationInterval: number;
    /**
     * How long a new key is published before it signs (seconds). Must be at least `jwksMaxAge`,
     * the longest time a verifier may cache the JWKS.
     */
    prePublication: number;
    /** `Cache-Control: max-age` of the JWKS (seconds). */
    jwksMaxAge: number;
    /** How often each instance reloads keys and advances rotation (seconds). */
    checkInterval: number;
    /**
     * Where ES256 tokens are signed (`signing.thread`, TESSERA_SIGNING_THREAD): `event-loop`
     * (node:crypto in the serving process, the least CPU per token), `thread-pool` (WebCrypto on
     * libuv's pool, which puts idle cores to work), or `auto` (the default): the event loop when
     * the workers cover every core. Other algorithms always sign on the thread pool.
     */
    thread: SigningThread;
  };
  /** Allowed clock difference when checking times on presented tokens (seconds). */
  clockSkew: number;
  /**
   * Proxies (CIDR blocks) whose X-Forwarded-For is believed. Empty: the TCP peer is the caller,
   * so a client cannot dodge allowedIps or rate limits by sending the header itself.
   */
  trustedProxies: string[];
  /** Token-endpoint rate limits, token buckets per client and per source IP; rate 0 turns one off. */
  rateLimits: {
    client: { rate: number; burst: number };
    ip: { rate: number; burst: number };
  };
  /**
   * POST /console/oidc/session, a token bucket per source address (each call makes the server call
   * the OpenID provider's token endpoint); rate 0 turns it off.
   */
  consoleSignInRateLimit: { rate: number; burst: number };
  /** Bursts of failed client authentication raise an alert (audit event, warn log, webhook). */
  alerts: {
    /** This many failures from one client id or one IP within `failureWindow` raise an alert. */
    failureThreshold: number;
    failureWindow: number;
    /** Optional http(s) URL that receives each alert as a JSON POST. */
    webhookUrl: string | null;
  };
  /**
   * Server-side token reuse: an identical request (same client, same granted scope, same
   * binding) within `window` seconds of the first gets the same token instead of a new signature.
   */
  tokenReuse: { enabled: boolean; window: number };
  /** RFC 8693 token exchange: the most actors a delegated token's act chain may name (docs/tokens.md). */
  tokenExchange: { maxDepth: number };
  /** The token endpoint's in-memory copy of the registry (storage/registry-cache.ts): how many clients it holds at most. */
  registryCache: { maxClients: number };
  /** The domain that holds accounts created through the service-account JSON dialect (`/auth/admin/service-accounts`). */
  serviceAccounts: { domain: string };
  /** The certificate authority for service identities (docs/certificates.md). */
  ca: {
    /** SPIFFE trust domain: service certificates carry `spiffe://<trustDomain>/<domain>/<service>`. */
    trustDomain: string;
    /** DNS SAN suffix: `<service>.<domain with dots as dashes>.<dnsSuffix>`. */
    dnsSuffix: string;
    /** Default service certificate lifetime (seconds). */
    certLifetime: number;
    /** Longest service certificate a request may ask for (seconds). */
    maxCertLifetime: number;
    /**
     * How long a new CA generation's root is in the trust bundle before the CA signs (seconds):
     * long enough for every verifier to fetch the bundle again.
     */
    prePublication: number;
    /** An imported CA (PEM files) instead of the generated one; null = generate on first start. */
    import: { keyFile: string; chainFile: string } | null;
  };
  /** Client certificates presented to Tessera (mutual TLS, RFC 8705). */
  mtls: {
    /**
     * PEM files of external CAs whose client certificates `tls_client_auth` also accepts (mapped
     * by the `certLogin.mappings` that name them).
     */
    externalCas: string[];
    /**
     * Header in which a TLS-terminating proxy passes the client certificate (URL-encoded PEM, as
     * nginx's `$ssl_client_escaped_cert`); believed only from `trustedProxies`. Null = off.
     */
    proxyCertHeader: string | null;
  };
  /** One-time bootstrap tokens for a new instance's first certificate. */
  joinTokens: { defaultTtl: number; maxTtl: number };
  /** External OIDC issuers whose tokens prove a principal for a certificate (e.g. Kubernetes service accounts). */
  oidcProofs: OidcProofIssuer[];
  /** Certificate login (`POST /auth/x509/login`, the API Mediation Layer pattern). Off by default. */
  certLogin: {
    enabled: boolean;
    /** Refuse a mapped certificate (at the token endpoint too) without the clientAuth extended key usage. */
    requireClientAuthEku: boolean;
    /** PEM files of the external CAs whose certificates may log in (Tessera's own CA is always trusted). */
    trustedCas: string[];
    /** External certificates → principals, wherever their CA is trusted; first match wins. */
    mappings: CertLoginMapping[];
  };
  /** The web console at /console/ (docs/console.md): a client of the admin API, served from the same origin. */
  console: {
    enabled: boolean;
    /** OpenID Connect sign-in for people (config/console-oidc.ts); null: off. */
    oidc: ConsoleOidcConfig | null;
  };
  /** Largest request body the server reads (bytes). */
  bodyLimit: number;
  /** How long audit events are kept, and how refusals before authentication are summed up. */
  audit: {
    /** Seconds each kind of event is kept (0: forever); older ones are pruned in the background. */
    retention: {
      /** Individual token requests (issued, refused after authentication) and introspection/revocation refusals. */
      tokenEvents: number;
      /** `token.refused.summary` rows and `alert.*` events. */
      summaries: number;
      /** Everything else: admin changes, rotations, certificates. */
      adminEvents: number;
      /** The hourly sums of who calls whom (tokens per domain, principal, actor and roles). */
      callers: number;
    };
    /** Requests refused before authentication are counted per address and reason over this many seconds, one row each. */
    summaryInterval: number;
  };
  /** Limits on the listener's connections, so idle or slow connections cannot exhaust file descriptors. */
  connections: {
    /** Open connections at most, over all addresses (keep below the process's descriptor limit). */
    max: number;
    /** Open connections at most from one address (trusted proxies exempt). */
    maxPerAddress: number;
    /** Seconds for the TLS handshake. */
    handshakeTimeout: number;
    /** Seconds from connecting (or the end of the last response) to the end of the request headers. */
    headersTimeout: number;
    /** Seconds for a whole request, body included. */
    requestTimeout: number;
    /** Seconds an idle keep-alive connection is kept open. */
    keepAliveTimeout: number;
    /**
     * Requests served over one connection before it is closed (0: no limit, the default). Node
     * answers 503 to requests a client sends on the connection after the last one allowed, so a
     * busy client that pipelines or reuses its connection sees 503s: set it only behind a proxy
     * that opens its own connections.
     */
    maxRequestsPerSocket: number;
  };
}

export interface OidcProofIssuer {
  /** Exact `iss` of the tokens. */
  issuer: string;
  /** Where its JWKS is fetched. */
  jwksUri: string;
  /** The `aud` the tokens must carry. */
  audience: string;
  /** The claim that names the workload, e.g. `sub`. */
  claim: string;
  /**
   * How the claim becomes a principal: a regular expression with named groups `domain` and
   * `service` (e.g. `^system:serviceaccount:(?<domain>[^:]+):(?<service>[^:]+)$`), or an exact
   * table from claim value to principal. At least one must be given. Each group must hold a valid
   * name on its own: a service with a dot (a Kubernetes account `auth.admin`) maps to no principal.
   */
  pattern?: string;
  principals?: Record<string, string>;
  /**
   * What the issuer's tokens may prove; absent means `['certificates']` (the `oidc-token` proof
   * only). `client-assertions` lets them authenticate clients at the token endpoint (RFC 7523).
   */
  uses?: OidcIssuerUse[];
  /**
   * Client assertions only (and the `oidc-token` proofs of an issuer used for both): how a second use is refused. `jti` (the default): each token must
   * carry a jti, accepted once; `token-hash`: for issuers whose tokens carry none, each token is
   * accepted once, known by its SHA-256.
   */
  replay?: 'jti' | 'token-hash';
  /**
   * Client assertions only (and the `oidc-token` proofs of an issuer used for both): the longest
   * validity (exp − iat, or exp − now) accepted, in seconds; absent means 3600.
   */
  maxLifetime?: number;
}

export type OidcIssuerUse = 'certificates' | 'client-assertions';
export const OIDC_ISSUER_USES: readonly OidcIssuerUse[] = ['certificates', 'client-assertions'];

/** The issuers whose tokens may prove `use` (no `uses` means certificates only). */
export function oidcIssuersFor(issuers: readonly OidcProofIssuer[], use: OidcIssuerUse): OidcProofIssuer[] {
  return issuers.filter((issuer) => (issuer.uses ?? ['certificates']).includes(use));
}

/**
 * A certificate matches when it chains to one of `cas` and every other field given matches
 * (exactly; subject as an RFC 4514 DN string).
 */
export interface CertLoginMapping {
  /**
   * The CA files (absolute paths) whose certificates the rule maps, each one listed in
   * `mtls.externalCas` (the rule then applies at the token endpoint) or `certLogin.trustedCas`
   * (at certificate login, when it is enabled).
   */
  cas: string[];
  subject?: string;
  /** A DNS, URI or email SAN value. */
  san?: string;
  /** SHA-256 of the DER certificate, hex (the loader accepts colons and either case, and stores lower-case hex without colons). */
  fingerprint?: string;
  principal: string;
}

export const DEFAULTS = {
  listen: 'https://127.0.0.1:8443',
  dataDir: '.tessera',
  logLevel: 'info',
  logFormat: 'auto',
  sharedDataDir: false,
  workers: 'auto',
  workerDistribution: 'round-robin',
  tls: { names: [] as string[] },
  tokens: { defaultLifetime: 3600, maxLifetime: 86_400 },
  signing: {
    alg: 'ES256',
    rotationInterval: 30 * 86_400,
    prePublication: 3600,
    jwksMaxAge: 600,
    checkInterval: 30,
    thread: 'auto',
  },
  clockSkew: 60,
  bodyLimit: 64 * 1024,
  audit: { retention: { tokenEvents: 30 * 86_400, summaries: 90 * 86_400, adminEvents: 400 * 86_400, callers: 90 * 86_400 }, summaryInterval: 60 },
  connections: {
    max: 4096,
    maxPerAddress: 256,
    handshakeTimeout: 10,
    headersTimeout: 10,
    requestTimeout: 30,
    keepAliveTimeout: 5,
    maxRequestsPerSocket: 0,
  },
  trustedProxies: [] as string[],
  rateLimits: { client: { rate: 50, burst: 100 }, ip: { rate: 200, burst: 400 } },
  consoleSignInRateLimit: { rate: 1, burst: 10 },
  alerts: { failureThreshold: 10, failureWindow: 60 },
  tokenReuse: { enabled: false, window: 30 },
  tokenExchange: { maxDepth: 4 },
  registryCache: { maxClients: 100_000 },
  databasePoolSize: 10,
  serviceAccounts: { domain: 'service-accounts' },
  ca: { trustDomain: 'tessera.local', dnsSuffix: 'svc.tessera.local', certLifetime: 86_400, maxCertLifetime: 7 * 86_400, prePublication: 86_400 },
  mtls: { externalCas: [] as string[] },
  joinTokens: { defaultTtl: 900, maxTtl: 86_400 },
  oidcProofs: [] as OidcProofIssuer[],
  certLogin: { enabled: false, requireClientAuthEku: true, trustedCas: [] as string[], mappings: [] as CertLoginMapping[] },
  console: { enabled: true, oidc: null as ConsoleOidcConfig | null },
} as const;

// The one typed configuration object. config/load.ts builds it from defaults, a config file,
// TESSERA_* environment variables and command-line flags (later sources win) and validates it;
// everything else receives a finished Config and never reads the environment itself.

import type { SigningAlg } from '../storage/records.ts';

export interface Config {
  /** Where the embedded database, master key, CA bundle and bootstrap credential live. */
  dataDir: string;
  /** `https://host:port` (default `https://127.0.0.1:8443`) or `http://host:port`. */
  listen: URL;
  /** The `iss` of every token; defaults to the listen URL's origin. */
  issuer: string;
  /** `sqlite` (embedded, in dataDir) or a `postgres://` URL. */
  database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /**
   * Where the master key comes from: TESSERA_MASTER_KEY (base64), a file, or (embedded default)
   * `<dataDir>/master.key`, generated on first start.
   */
  masterKey: { source: 'env'; value: string } | { source: 'file'; path: string; generate: boolean };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
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
  /** The domain that holds accounts created through the seed-003 `/auth/admin/service-accounts` API. */
  serviceAccounts: { domain: string };
  /** Largest request body the server reads (bytes). */
  bodyLimit: number;
}

export const DEFAULTS = {
  listen: 'https://127.0.0.1:8443',
  dataDir: '.tessera',
  logLevel: 'info',
  tokens: { defaultLifetime: 3600, maxLifetime: 86_400 },
  signing: {
    alg: 'ES256',
    rotationInterval: 30 * 86_400,
    prePublication: 3600,
    jwksMaxAge: 600,
    checkInterval: 30,
  },
  clockSkew: 60,
  bodyLimit: 64 * 1024,
  trustedProxies: [] as string[],
  rateLimits: { client: { rate: 50, burst: 100 }, ip: { rate: 200, burst: 400 } },
  alerts: { failureThreshold: 10, failureWindow: 60 },
  tokenReuse: { enabled: false, window: 30 },
  serviceAccounts: { domain: 'service-accounts' },
} as const;

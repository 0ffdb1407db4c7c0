// The refresher's options, checked once with a TypeError that says what to fix, and filled in
// with their defaults.

import { resolve } from 'node:path';
import { bundleRefreshSeconds } from '../http/trust-bundle.ts';
import { KEY_TYPES, type KeyType } from './keys.ts';
import type { CertificateRefresherOptions } from './options.ts';
import { DEFAULT_POLICY, type RenewalPolicy } from './schedule.ts';

export interface Settings {
  /** Without a trailing slash. */
  server: string;
  ca: string | Buffer;
  caText: string;
  bootstrapAttempts: number;
  principal: string;
  outDir: string | undefined;
  keyType: KeyType;
  rotateKey: boolean;
  policy: RenewalPolicy;
  clock: () => number;
  requestTimeoutMs: number;
  /** 0: the bundle is fetched on renewal only. */
  bundleRefreshMs: number;
}

/** `<domain>.<service>` after Athenz's rules, as Tessera names principals. */
const PRINCIPAL = /^[a-z0-9_][a-z0-9_-]*(?:\.[a-z0-9_][a-z0-9_-]*)*\.[a-z0-9_][a-z0-9_-]*$/;

export function checkOptions(options: CertificateRefresherOptions): Settings {
  if (options === null || typeof options !== 'object')
    throw new TypeError('createCertificateRefresher needs an options object with server, ca, principal and bootstrap');
  const server = checkServer(options.server);
  const ca = options.ca ?? '';
  const caText = typeof ca === 'string' ? ca : Buffer.isBuffer(ca) ? ca.toString('utf8') : '';
  if (
    options.caClient !== undefined &&
    (options.caClient === null || typeof options.caClient.issue !== 'function' || typeof options.caClient.bundle !== 'function')
  ) {
    throw new TypeError('caClient must have certificatesUrl, bundle(), issue(request) and close()');
  }
  if ((options.caClient === undefined || options.ca !== undefined) && !caText.includes('-----BEGIN CERTIFICATE-----')) {
    throw new TypeError("ca must be PEM text (string or Buffer) holding Tessera's CA certificate, e.g. the contents of .tessera/ca.pem");
  }
  if (typeof options.principal !== 'string' || !PRINCIPAL.test(options.principal)) {
    throw new TypeError(`principal must be a service name "<domain>.<service>" such as "alpha.api"; got ${JSON.stringify(options.principal)}`);
  }
  if (options.bootstrap === undefined && options.outDir === undefined) {
    throw new TypeError('bootstrap is required: { joinToken }, { privateKey, kid } or { oidcToken } (only a refresher with an outDir can go without)');
  }
  const bootstrapAttempts = options.bootstrapAttempts ?? 4;
  if (!(bootstrapAttempts === Infinity || (Number.isSafeInteger(bootstrapAttempts) && bootstrapAttempts >= 1))) {
    throw new TypeError(`bootstrapAttempts must be a whole number ≥ 1 or Infinity; got ${String(bootstrapAttempts)}`);
  }
  if (options.random !== undefined && typeof options.random !== 'function') throw new TypeError('random must be a function returning a number in [0, 1)');
  if (options.timers !== undefined && (typeof options.timers?.setTimeout !== 'function' || typeof options.timers.clearTimeout !== 'function')) {
    throw new TypeError('timers must have setTimeout(callback, ms) and clearTimeout(handle)');
  }
  if (options.outDir !== undefined && (typeof options.outDir !== 'string' || options.outDir === ''))
    throw new TypeError('outDir must be a directory path (a non-empty string)');
  const keyType = options.keyType ?? 'p256';
  if (!KEY_TYPES.includes(keyType)) throw new TypeError(`keyType must be one of ${KEY_TYPES.join(', ')}; got ${JSON.stringify(keyType)}`);
  if (options.rotateKey !== undefined && typeof options.rotateKey !== 'boolean') throw new TypeError('rotateKey must be true or false');
  const policy = { renewAt: options.renewAt ?? DEFAULT_POLICY.renewAt, jitter: options.jitter ?? DEFAULT_POLICY.jitter };
  if (typeof policy.renewAt !== 'number' || !(policy.renewAt > 0 && policy.renewAt < 1))
    throw new TypeError(`renewAt must be a share of the lifetime between 0 and 1 (default 2/3); got ${String(policy.renewAt)}`);
  if (typeof policy.jitter !== 'number' || !(policy.jitter >= 0 && policy.jitter < 1))
    throw new TypeError(`jitter must be a share from 0 up to (not including) 1 (default 0.1); got ${String(policy.jitter)}`);
  if (policy.renewAt * (1 + policy.jitter) >= 1)
    throw new TypeError(
      `renewAt × (1 + jitter) must stay below 1, or a renewal could be planned after the certificate ends; got ${policy.renewAt} and ${policy.jitter}`,
    );
  if (options.clock !== undefined && typeof options.clock !== 'function')
    throw new TypeError('clock must be a function returning milliseconds since the epoch');
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) throw new TypeError('requestTimeoutMs must be a positive number of milliseconds');
  return {
    server,
    ca,
    caText,
    bootstrapAttempts,
    principal: options.principal,
    outDir: options.outDir === undefined ? undefined : resolve(options.outDir),
    keyType,
    rotateKey: options.rotateKey ?? true,
    policy,
    clock: options.clock ?? ((): number => Date.now()),
    requestTimeoutMs,
    bundleRefreshMs: bundleRefreshSeconds(options.bundleRefresh) * 1000,
  };
}

function checkServer(value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`server must be Tessera's URL, e.g. https://127.0.0.1:8443; got ${JSON.stringify(value)}`);
  }
  // Renewal presents a client certificate, and a join token is a secret: neither travels in the clear.
  if (url.protocol !== 'https:') throw new TypeError(`server must be an https: URL (certificates are requested over TLS); got ${String(value)}`);
  return String(value).replace(/\/+$/, '');
}

// What the SDK's own calls to Tessera trust: the issuing CAs of the configured `ca` plus those of
// Tessera's trust bundle (`GET /ca/v1/bundle`), refetched now and then (http/anchors.ts says why
// issuing CAs and not roots). When a CA rotation activates, Tessera's HTTPS certificate switches
// to the new generation, which a deployed ca.pem does not hold. Tessera publishes that generation
// in the bundle `ca.prePublication` (24 h by default) before it signs, so a client that refetches
// the bundle well within that window, over a connection its current trust verified, trusts the
// new issuing CA before it is needed.
//
// The refetch is periodic, not on failure: once Tessera presents a chain the client cannot
// verify, the bundle request fails on the same TLS handshake, so a chain error cannot be repaired
// by fetching the bundle then. Only a bundle fetched before the switch carries a client across.

import { X509Certificate } from 'node:crypto';
import type { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tesseraTrust, type TlsTrust } from './anchors.ts';
import { sendRequest } from './request.ts';

export const TRUST_BUNDLE_PATH = '/ca/v1/bundle';

/** Default of `bundleRefresh`, in seconds: well inside Tessera's default pre-publication of 24 h. */
export const DEFAULT_BUNDLE_REFRESH_SECONDS = 3600;

/** After a failed fetch the next one waits this long (or `bundleRefresh`, when shorter). */
export const RETRY_AFTER_FAILURE_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A bundle holds a few CAs (two or three per CA generation); anything near this is not one. */
const MAX_BUNDLE_BYTES = 256 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/** Where the trust for requests to Tessera comes from. */
export interface TrustSource {
  /**
   * The trust to verify Tessera's certificate with now (undefined: Node's default list). The
   * same value until the trust changes, so keep-alive pools keyed by it stay put. Starts a refetch
   * in the background when one is due and never waits for it.
   */
  anchors(): TlsTrust | undefined;
  /** Resolves once no refetch is under way; for tests. */
  settled(): Promise<void>;
  /** Aborts a refetch under way and resolves once its socket is closed; later `anchors()` start none. */
  close(): Promise<void>;
}

export interface TrustBundleOptions {
  /**
   * The configured trust anchors (Tessera's ca.pem, or the CA of an operator's own server
   * certificate); without them Node's list is used and no bundle is fetched.
   */
  ca: string | Buffer | undefined;
  /** A URL of the Tessera server (issuer, token endpoint); the bundle is read from its origin. */
  server: string;
  /** Seconds between refetches, the first one included; 0 keeps `ca` alone. */
  refreshSeconds: number;
  /** Agent for the bundle request; a fresh connection each time otherwise (refetches are an hour apart). */
  agent?: Agent;
  timeoutMs?: number;
  /** Milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/** Checks a `bundleRefresh` option (seconds, ≥ 0) and applies the default. */
export function bundleRefreshSeconds(value: unknown): number {
  if (value === undefined) return DEFAULT_BUNDLE_REFRESH_SECONDS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`bundleRefresh must be a number of seconds ≥ 0 (0 turns the refetch off), not ${String(value)}`);
  }
  return value;
}

/**
 * Follows Tessera's trust bundle for `ca` when it is given, the server is https and
 * `refreshSeconds` is above 0; otherwise the trust is `ca` alone.
 */
export function followTrustBundle(options: TrustBundleOptions): TrustSource {
  const { ca } = options;
  const url = new URL(TRUST_BUNDLE_PATH, options.server);
  const fixed = (trust: TlsTrust | undefined): TrustSource => ({
    anchors: () => trust,
    settled: () => Promise.resolve(),
    close: () => Promise.resolve(),
  });
  if (ca === undefined) return fixed(undefined);
  const configured = tesseraTrust(ca);
  if (options.refreshSeconds === 0 || url.protocol !== 'https:') return fixed(configured);
  const refreshMs = options.refreshSeconds * 1000;
  const now = options.now ?? Date.now;
  const aborter = new AbortController();
  const agent = options.agent ?? new HttpsAgent({ keepAlive: false });
  let anchors: TlsTrust = configured;
  // A bundle that says what `ca` says changes nothing, not even the agents' pool key.
  let fetched = sameAsCa(ca);
  // The configured ca is as current as a bundle fetched now would be, give or take what a
  // deployment lags: the first fetch is due one interval on, so a short-lived client sends none.
  let nextAt = now() + refreshMs;
  let inflight: Promise<void> | undefined;

  const refetch = async (): Promise<void> => {
    const res = await sendRequest(url, {
      headers: { accept: 'application/pem-certificate-chain' },
      trust: anchors, // only a server the current trust vouches for may extend it
      agent,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBodyBytes: MAX_BUNDLE_BYTES,
      signal: aborter.signal,
    });
    if (res.status !== 200) throw new Error(`${url.href} answered ${res.status}`);
    const bundle = parseTrustBundle(res.body);
    if (aborter.signal.aborted || bundle === fetched) return;
    fetched = bundle;
    anchors = tesseraTrust(ca, bundle);
  };

  return {
    anchors() {
      if (inflight === undefined && now() >= nextAt && !aborter.signal.aborted) {
        nextAt = Infinity;
        // A failure keeps the last good trust: it still verifies the current certificate.
        inflight = refetch().then(
          () => void (nextAt = now() + refreshMs),
          () => void (nextAt = now() + Math.min(refreshMs, RETRY_AFTER_FAILURE_MS)),
        );
        void inflight.then(() => (inflight = undefined));
      }
      return anchors;
    },
    settled: () => inflight ?? Promise.resolve(),
    async close() {
      aborter.abort();
      // The aborted request settles once its socket is closed: then nothing of it holds the process.
      await inflight;
      if (options.agent === undefined) agent.destroy();
    },
  };
}

/**
 * The certificates of a PEM trust bundle, normalized; throws unless the text is PEM CA
 * certificates and nothing else (an error page or a leaf must not become a trust anchor).
 */
export function parseTrustBundle(text: string): string {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('the trust bundle holds no PEM certificate');
  if (text.replace(PEM_CERTIFICATE, '').trim() !== '') throw new Error('the trust bundle holds something besides PEM certificates');
  for (const block of blocks) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch {
      throw new Error('the trust bundle holds a PEM block that is not a certificate');
    }
    if (!certificate.ca) throw new Error(`the trust bundle holds a certificate that is not a CA (${certificate.subject})`);
  }
  return `${blocks.map((block) => block.replace(/\r\n/g, '\n')).join('\n')}\n`;
}

function sameAsCa(ca: string | Buffer): string | undefined {
  try {
    return parseTrustBundle(ca.toString());
  } catch {
    return undefined;
  }
}

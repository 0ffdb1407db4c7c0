// createCertificateRefresher: keeps a service certificate from Tessera's CA valid for as long as
// the process runs, after SPIRE's agent and step-ca's `renew --daemon`. The first certificate
// comes from the bootstrap proof (or from `outDir`, when a valid one is there); every later one
// is a renewal over mutual TLS with the current certificate, at about two thirds of its life,
// with jitter. A failed renewal is retried with backoff until the certificate expires; after
// that only a proof that works again (a registered key, an OIDC token) can help. The private key
// is made in this process and never sent anywhere: only CSRs signed with it are. The trust bundle
// is fetched again between renewals (`bundleRefresh`): a CA rotation publishes its new root a
// while before it signs, and a certificate can live longer than that while.

import { EventEmitter } from 'node:events';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Agent } from 'node:https';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { httpsCaClient, type CaClient } from './ca-client.ts';
import { buildCsr } from './csr.ts';
import { CertificateRefresherError } from './errors.ts';
import { tesseraTrust, type TlsTrust } from '../http/anchors.ts';
import { RETRY_AFTER_FAILURE_MS } from '../http/trust-bundle.ts';
import { prepareOutDir, readHeld, writeHeld, writeTrust } from './files.ts';
import { acceptIssued, sameCertificates, trustFrom, type Held } from './held.ts';
import { generateKey, keyTypeOf } from './keys.ts';
import type {
  CertificateInfo,
  CertificateRefresher,
  CertificateRefresherEvents,
  CertificateRefresherOptions,
  RefresherTimers,
  SecureContextTarget,
  TlsMaterial,
} from './options.ts';
import { bootstrapProof, type BootstrapProof } from './proofs.ts';
import { expiringFrom, nextRenewal, renewalTime, retryDelay, MAX_TIMER_MS } from './schedule.ts';
import { checkOptions, type Settings } from './settings.ts';
import { closeIdleConnections, refreshingAgent, type Generation } from './tls.ts';

/** What the refresher is built from besides its options: the CA and randomness, replaced in tests. */
export interface RefresherDeps {
  /** `trust`: what Tessera's own certificate may chain to, now. */
  caClient(settings: Settings, signal: AbortSignal, trust: () => TlsTrust): CaClient;
  random(): number;
}

const DEFAULT_DEPS: RefresherDeps = {
  caClient: (settings, signal, trust) => httpsCaClient({ server: settings.server, trust, timeoutMs: settings.requestTimeoutMs, signal }),
  random: Math.random,
};

const GLOBAL_TIMERS: RefresherTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Without a bootstrap (`outDir` only): nothing proves the principal but a valid certificate. */
const NO_PROOF: BootstrapProof = {
  repeatable: false,
  make: () => Promise.reject(new CertificateRefresherError('no bootstrap was given to prove the principal', { code: 'ERR_PROOF_UNAVAILABLE' })),
};

/** The `key` option: a private key of a type Tessera certifies. */
function firstKeyOf(key: KeyObject | string | undefined): KeyObject | undefined {
  if (key === undefined) return undefined;
  let parsed: KeyObject;
  try {
    parsed = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (cause) {
    throw new TypeError('key is not a readable PEM private key', { cause });
  }
  if (parsed?.type !== 'private' || keyTypeOf(parsed) === undefined) {
    throw new TypeError('key must be a P-256, P-384, Ed25519 or RSA (2048 bits or more) private key: Tessera certifies only those');
  }
  return parsed;
}

/**
 * Obtains a service certificate and keeps it renewed. Resolves once a certificate is held.
 *
 * @example
 * ```ts
 * const refresher = await createCertificateRefresher({
 *   server: 'https://tessera.internal:8443',
 *   ca: await readFile('ca.pem', 'utf8'),
 *   principal: 'alpha.api',
 *   bootstrap: { joinToken: process.env.JOIN_TOKEN! },
 *   outDir: '/var/run/alpha-api',
 * });
 * refresher.on('failed', ({ error, retryAt }) => log.warn(error.message, { retryAt }));
 * const server = https.createServer({ ...refresher.tlsOptions(), requestCert: true }, handler);
 * refresher.attach(server);
 * ```
 */
export function createCertificateRefresher(options: CertificateRefresherOptions): Promise<CertificateRefresher> {
  return startRefresher(options, DEFAULT_DEPS);
}

export async function startRefresher(options: CertificateRefresherOptions, deps: RefresherDeps): Promise<CertificateRefresher> {
  const settings = checkOptions(options);
  const proof = options.bootstrap === undefined ? NO_PROOF : bootstrapProof(options.bootstrap);
  const firstKey = firstKeyOf(options.key);
  const spent =
    options.bootstrap === undefined
      ? 'no bootstrap proof was given, so get a new certificate another way'
      : 'the join token was spent, so start again with a new one';
  const { clock, principal } = settings;
  const timers = options.timers ?? GLOBAL_TIMERS;
  const random = options.random ?? deps.random;
  const aborter = new AbortController();
  // The configured CA, and the bundle last fetched (over a connection that CA vouched for): after
  // a CA rotation Tessera's own certificate comes from the new generation, which only the
  // bundle holds.
  const ca = options.caClient ?? deps.caClient(settings, aborter.signal, () => tesseraTrust(settings.ca, held?.ca));
  const emitter = new EventEmitter();
  for (const [event, listener] of Object.entries(options.listeners ?? {})) {
    if (typeof listener === 'function') emitter.on(event, listener);
  }
  const agents = new Set<Agent>();
  const servers = new Map<SecureContextTarget, SecureContextOptions | undefined>();

  let closed = false;
  let held: Held;
  let info: CertificateInfo;
  let generation: Generation;
  let context: SecureContext | undefined;
  let timer: unknown;
  let inflight: Promise<Held> | undefined;
  let bundleTimer: unknown;
  let bundleFetch: Promise<void> | undefined;
  let failures = 0;
  let warnedExpiring = false;
  /** Set when a renewal was refused (revoked, say): a repeatable proof is tried instead. */
  let proveNext = false;

  const closedError = (): CertificateRefresherError => new CertificateRefresherError('the certificate refresher was closed', { code: 'ERR_REFRESHER_CLOSED' });

  /** One certificate request: with the bootstrap proof, or as a renewal with the current certificate. */
  const obtain = async (renewal: boolean): Promise<Held> => {
    let key: KeyObject;
    if (renewal) key = settings.rotateKey ? await generateKey(settings.keyType) : held.key;
    else key = proof.csrKey ?? (held === undefined ? firstKey : settings.rotateKey ? undefined : held.key) ?? (await generateKey(settings.keyType));
    const csr = buildCsr(key, principal);
    // The bundle first: if it cannot be had, nothing is spent (a join token works only once).
    const bundle = await ca.bundle();
    const answer = renewal
      ? await ca.issue({ csr, tls: { cert: held.material.cert, key: held.material.key } })
      : await ca.issue({ csr, proof: await proof.make(principal, ca.certificatesUrl, clock()) });
    if (closed) throw closedError();
    return acceptIssued(answer, bundle, key, principal, clock());
  };

  const describeHeld = (next: Held, renewAt: number): CertificateInfo =>
    Object.freeze({
      principal: next.principal,
      spiffeId: next.spiffeId,
      serial: next.serial,
      notBefore: new Date(next.notBefore),
      notAfter: new Date(next.notAfter),
      thumbprint: next.thumbprint,
      renewAt: new Date(renewAt),
    });

  /** A new generation of TLS material from `next`: agents and `secureContext()` make new contexts. */
  const setMaterial = (next: Held): void => {
    held = next;
    // Peers are checked against Tessera's issuing CAs alone, as Tessera checks its clients.
    const { ca: anchors, allowPartialTrustChain } = tesseraTrust(next.ca);
    const { key, cert } = next.material;
    const material: TlsMaterial = Object.freeze({ key, cert, ca: anchors, allowPartialTrustChain });
    generation = { number: (generation?.number ?? 0) + 1, material };
    context = undefined;
  };

  /** Hands the current generation to attached servers; agents' pooled connections of an older one go. */
  const spread = (): void => {
    for (const [server, extra] of servers) server.setSecureContext({ ...extra, ...generation.material });
    for (const agent of agents) closeIdleConnections(agent);
  };

  /** Makes `next` the certificate in use, everywhere at once. */
  const install = (next: Held, renewAt: number): void => {
    setMaterial(next);
    info = describeHeld(next, renewAt);
    failures = 0;
    warnedExpiring = false;
    proveNext = false;
  };

  const emit = <E extends keyof CertificateRefresherEvents>(event: E, payload: CertificateRefresherEvents[E]): void => {
    // One by one: a throwing listener must neither stop the renewals nor keep the other
    // listeners (the token client among them) from hearing of the new certificate.
    for (const listener of emitter.rawListeners(event) as ((value: unknown) => void)[]) {
      try {
        listener(payload);
      } catch {
        // Ignored, as above.
      }
    }
  };

  const schedule = (at: number): void => {
    timers.clearTimeout(timer);
    timer = undefined;
    if (closed) return;
    // A time already past (a certificate read from outDir after its renewal point) is now, not a timer away.
    if (at <= clock()) {
      attempt().catch(() => {}); // reported through `failed`
      return;
    }
    timer = timers.setTimeout(
      () => {
        timer = undefined;
        if (clock() < at) schedule(at);
        else attempt().catch(() => {}); // reported through `failed`
      },
      Math.min(MAX_TIMER_MS, at - clock()),
    );
  };

  const adopt = async (next: Held): Promise<void> => {
    const previous = info;
    const keyChanged = next.key !== held.key;
    install(next, nextRenewal(next.notBefore, next.notAfter, clock(), settings.policy, random()));
    spread();
    if (settings.outDir !== undefined) {
      // The new certificate is in use whether or not the files can be written: it is valid,
      // and the old one in them will only get older. The next renewal writes them again.
      await writeHeld(settings.outDir, next, keyChanged).catch((error: unknown) => {
        emit('failed', { error: error as CertificateRefresherError, attempt: 1, retryAt: info.renewAt });
      });
    }
    // Announced (and the next renewal planned) once the files hold it, as `tessera cert --watch` reports it.
    schedule(info.renewAt.getTime());
    emit('renewed', { certificate: info, previous });
  };

  const onFailure = (error: CertificateRefresherError, renewal: boolean): void => {
    failures++;
    const now = clock();
    if (renewal && error.refused && proof.repeatable) proveNext = true;
    const expired = now >= held.notAfter;
    if (expired && !proof.repeatable) {
      const final = new CertificateRefresherError(
        `the certificate expired at ${info.notAfter.toISOString()} before it could be renewed (last failure: ${error.message}); ${spent}`,
        { code: 'ERR_CERTIFICATE_EXPIRED', cause: error },
      );
      emit('failed', { error: final, attempt: failures, retryAt: null });
      return;
    }
    const delay = retryDelay(failures, random(), held.notAfter - now, (error.retryAfter ?? 0) * 1000);
    schedule(now + delay);
    emit('failed', { error, attempt: failures, retryAt: new Date(now + delay) });
    if (!warnedExpiring && !expired && now >= expiringFrom(held.notBefore, held.notAfter)) {
      warnedExpiring = true;
      emit('expiring', { certificate: info, remainingMs: held.notAfter - now, error });
    }
  };

  /** One renewal (or re-bootstrap) attempt, shared by everyone who asks while it runs. */
  const attempt = (): Promise<Held> => {
    if (closed) return Promise.reject(closedError());
    if (inflight) return inflight;
    timers.clearTimeout(timer);
    timer = undefined;
    const valid = clock() < held.notAfter;
    const renewal = valid && !proveNext;
    const run = async (): Promise<Held> => {
      if (!renewal && !proof.repeatable) {
        throw new CertificateRefresherError(`the certificate expired at ${info.notAfter.toISOString()}; renewal needs an unexpired certificate and ${spent}`, {
          code: 'ERR_CERTIFICATE_EXPIRED',
        });
      }
      const next = await obtain(renewal);
      await adopt(next);
      return next;
    };
    const settled = run().then(
      (next) => {
        inflight = undefined;
        return next;
      },
      (cause: unknown) => {
        inflight = undefined;
        const error =
          cause instanceof CertificateRefresherError
            ? cause
            : new CertificateRefresherError(`the certificate request failed: ${String(cause)}`, { code: 'ERR_CA_UNAVAILABLE', cause });
        if (!closed) {
          if (error.code === 'ERR_CERTIFICATE_EXPIRED') emit('failed', { error, attempt: ++failures, retryAt: null });
          else onFailure(error, renewal);
        }
        throw error;
      },
    );
    inflight = settled;
    return settled;
  };

  /** The trust bundle fetched again; installed everywhere the refresher's trust is used when it changed. */
  const refreshBundle = async (): Promise<void> => {
    const base = held;
    const fetched = await ca.bundle();
    // A renewal that ended meanwhile installed a bundle of its own, as fresh as this one.
    if (closed || held !== base) return;
    const trust = trustFrom(fetched, held.chain);
    if (sameCertificates(trust, held.ca)) return;
    const previous = held.ca;
    // The same certificate and key (`current()` stays the same object): only the trust changes.
    setMaterial({ ...held, ca: trust });
    spread();
    emit('bundle', { ca: trust, previous });
    if (settings.outDir !== undefined) {
      await writeTrust(settings.outDir, trust).catch((error: unknown) => {
        emit('failed', { error: error as CertificateRefresherError, attempt: 1, retryAt: info.renewAt });
      });
    }
  };

  const scheduleBundle = (at: number): void => {
    timers.clearTimeout(bundleTimer);
    bundleTimer = undefined;
    if (closed || settings.bundleRefreshMs === 0) return;
    bundleTimer = timers.setTimeout(
      () => {
        bundleTimer = undefined;
        if (clock() < at) return scheduleBundle(at);
        // A failure keeps the bundle held: it still verifies what it did. Tried again sooner.
        bundleFetch = refreshBundle()
          .then(
            () => settings.bundleRefreshMs,
            () => Math.min(settings.bundleRefreshMs, RETRY_AFTER_FAILURE_MS),
          )
          .then((wait) => {
            bundleFetch = undefined;
            scheduleBundle(clock() + wait);
          });
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - clock())),
    );
    // Renewals keep a process alive if anything does; a bundle fetch alone should not.
    (bundleTimer as { unref?: () => void } | undefined)?.unref?.();
  };

  /**
   * The first certificate: from `outDir` when it holds a valid one, else proven, retrying a CA
   * that does not answer. Resolves with whether it came from `outDir`.
   */
  /** Waits `ms` on the refresher's timers; `close()` (or `signal`) ends the wait at once. */
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        timers.clearTimeout(handle);
        resolve();
      };
      const handle = timers.setTimeout(() => {
        aborter.signal.removeEventListener('abort', wake);
        resolve();
      }, ms);
      aborter.signal.addEventListener('abort', wake, { once: true });
    });

  const start = async (): Promise<boolean> => {
    if (settings.outDir !== undefined) {
      await prepareOutDir(settings.outDir);
      const existing = await readHeld(settings.outDir, principal, clock(), settings.caText);
      if (existing !== undefined) {
        install(existing, renewalTime(existing.notBefore, existing.notAfter, settings.policy, random()));
        return true;
      }
      if (options.bootstrap === undefined) {
        throw new CertificateRefresherError(`${settings.outDir} holds no valid certificate for ${principal}, and no bootstrap was given to get one`, {
          code: 'ERR_PROOF_UNAVAILABLE',
        });
      }
    }
    for (let n = 1; ; n++) {
      if (closed) throw closedError();
      try {
        const first = await obtain(false);
        install(first, nextRenewal(first.notBefore, first.notAfter, clock(), settings.policy, random()));
        if (settings.outDir !== undefined) await writeHeld(settings.outDir, first, true);
        return false;
      } catch (error) {
        if (closed) throw closedError();
        if (!(error instanceof CertificateRefresherError) || error.code !== 'ERR_CA_UNAVAILABLE' || n >= settings.bootstrapAttempts) throw error;
        const delay = retryDelay(n, random(), 0, (error.retryAfter ?? 0) * 1000);
        emit('failed', { error, attempt: n, retryAt: new Date(clock() + delay) });
        await pause(delay);
      }
    }
  };

  let started = false;
  const onAbort = (): void => {
    if (started) {
      close().catch(() => {});
    } else {
      closed = true;
      aborter.abort();
    }
  };
  if (options.signal?.aborted === true) throw closedError();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  let fromFiles: boolean;
  try {
    fromFiles = await start();
    // Aborted while the last step of start (writing outDir) ran.
    if (closed) throw closedError();
  } catch (error) {
    closed = true;
    aborter.abort();
    options.signal?.removeEventListener('abort', onAbort);
    ca.close();
    throw error;
  }
  schedule(info!.renewAt.getTime());
  // A bundle just fetched is current; the ca.pem of outDir is as old as its certificate.
  scheduleBundle(fromFiles ? clock() : clock() + settings.bundleRefreshMs);

  /** Every call of close() (and `signal`) shares this one. */
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= shutDown());
  const shutDown = async (): Promise<void> => {
    closed = true;
    options.signal?.removeEventListener('abort', onAbort);
    timers.clearTimeout(timer);
    timer = undefined;
    timers.clearTimeout(bundleTimer);
    bundleTimer = undefined;
    aborter.abort();
    if (inflight) await inflight.catch(() => {});
    await bundleFetch;
    for (const agent of agents) agent.destroy();
    agents.clear();
    servers.clear();
    ca.close();
    emitter.removeAllListeners();
  };

  const live: CertificateRefresher = {
    current: () => held.material,
    info: () => info,
    tlsOptions: () => generation.material,
    secureContext() {
      context ??= createSecureContext(generation.material);
      return context;
    },
    createAgent(agentOptions) {
      if (closed) throw closedError();
      const agent = refreshingAgent(() => generation, agentOptions);
      agents.add(agent);
      return agent;
    },
    attach(server, extra) {
      if (server === null || typeof server !== 'object' || typeof server.setSecureContext !== 'function') {
        throw new TypeError('attach needs a TLS server with setSecureContext (a tls.Server or https.Server)');
      }
      servers.set(server, extra);
      server.setSecureContext({ ...extra, ...generation.material });
      return () => void servers.delete(server);
    },
    async renew() {
      await attempt();
      return info;
    },
    on(event, listener) {
      emitter.on(event, listener);
      return live;
    },
    once(event, listener) {
      emitter.once(event, listener);
      return live;
    },
    off(event, listener) {
      emitter.off(event, listener);
      return live;
    },
    close,
  };
  started = true;
  return live;
}

// Tessera's own HTTPS listener. Its certificate comes from one of two sources:
// - self-issued (the default): from Tessera's CA, for loopback, the listen host, the issuer's host
//   and `tls.names`; renewed in place at 2/3 of its life or as soon as a CA rotation hands signing
//   to another generation;
// - the operator's files (`tls.certFile`, `tls.keyFile`): read at start, then again whenever they
//   change (polled) or reload() is called (SIGHUP); a pair that fails its checks is logged and the
//   one in use kept. Tessera's CA then issues nothing for the listener.
// Either way the trust bundle for client certificates is kept equal to the CA's. setSecureContext
// applies to new handshakes only, so open connections keep theirs and nothing restarts.

import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateAuthority } from '../ca/index.ts';
import type { CertificateNames } from '../config/own-names.ts';
import { certificateCovers, readOwnCertificate, type ServerCertificateFiles } from './server-certificate-files.ts';

export interface ListenerTlsOptions {
  key: string;
  cert: string;
  ca: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** The slice of a pino/fastify logger this needs. */
export interface ServerTlsLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export { serverCertificateNames, type CertificateNames } from '../config/own-names.ts';

export interface TlsWatch {
  /** Reads the operator's files now (SIGHUP); nothing for a self-issued certificate. Never rejects. */
  reload(): Promise<void>;
  /** Stops watching the files and the CA. */
  stop(): void;
}

export interface ServerTls {
  /** The listener's options at start. */
  readonly options: ListenerTlsOptions;
  /** From now on, keeps the context of `server` (`app.server`) current. */
  keepFresh(server: { setSecureContext(options: SecureContextOptions): void }, logger: ServerTlsLogger): TlsWatch;
}

export interface ServerTlsDeps {
  ca: Pick<CertificateAuthority, 'id' | 'bundlePem' | 'issueServerCertificate' | 'onBundleChange' | 'onRefresh'>;
  /** What the self-issued certificate covers (serverCertificateNames). */
  names: CertificateNames;
  /** The operator's certificate and key instead of a self-issued one. */
  files: ServerCertificateFiles | null;
  /** The issuer's host: an operator's certificate that does not cover it is warned about. */
  issuerHost: string;
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** How often the operator's files are checked for a change (ms, default 2000). */
  pollMs?: number;
}

interface Pair {
  keyPem: string;
  /** What the listener presents: the certificate, then its chain. */
  certPem: string;
}

type Event = 'refresh' | 'bundle' | 'files';

interface CertificateSource {
  readonly initial: Pair;
  /** The pair to serve after `event`: `current` itself when it stays. Rejects when a new one is unusable. */
  next(event: Event, current: Pair, logger: ServerTlsLogger): Promise<Pair>;
  /** Logged when next() rejects. */
  readonly failure: string;
  /** Called once the logger exists. */
  announce(logger: ServerTlsLogger): void;
  /** Calls `changed` when the source may have something new; returns the stop. */
  watch(changed: () => void): () => void;
}

const DEFAULT_POLL_MS = 2000;

export async function serverTls(deps: ServerTlsDeps): Promise<ServerTls> {
  const { ca } = deps;
  const source = deps.files === null ? await selfIssued(deps) : await ownFiles(deps, deps.files);
  const contextOf = (pair: Pair, bundlePem: string): ListenerTlsOptions => ({
    key: pair.keyPem,
    cert: pair.certPem,
    ca: bundlePem,
    // Client certificates are requested but optional; the mTLS issue verifies them.
    requestCert: true,
    rejectUnauthorized: false,
  });

  let current = source.initial;
  let bundlePem = ca.bundlePem;
  return {
    options: contextOf(current, bundlePem),
    keepFresh(server, logger) {
      source.announce(logger);
      let stopped = false;
      const check = async (event: Event): Promise<void> => {
        if (stopped) return;
        try {
          const next = await source.next(event, current, logger);
          if (next === current && ca.bundlePem === bundlePem) return;
          server.setSecureContext(contextOf(next, ca.bundlePem));
          current = next;
          bundlePem = ca.bundlePem;
        } catch (error) {
          logger.error({ err: error, message: (error as Error).message }, source.failure);
        }
      };
      // One check at a time, whichever event asks.
      let queue = Promise.resolve();
      const enqueue = (event: Event) => (): Promise<void> => (queue = queue.then(() => check(event)));
      const unsubscribe = [ca.onRefresh(enqueue('refresh')), ca.onBundleChange(enqueue('bundle')), source.watch(enqueue('files'))];
      return {
        reload: enqueue('files'),
        stop() {
          stopped = true;
          for (const stop of unsubscribe) stop();
        },
      };
    },
  };
}

async function selfIssued(deps: ServerTlsDeps): Promise<CertificateSource> {
  const { ca, now } = deps;
  type Issued = Pair & { signer: string; issuedAt: number; notAfter: number };
  const issue = async (at: number): Promise<Issued> => {
    const signer = ca.id;
    const issued = await ca.issueServerCertificate({ ...deps.names, lifetimeSeconds: deps.lifetimeSeconds, now: at });
    return { keyPem: issued.keyPem, certPem: issued.certPem + issued.chainPem, signer, issuedAt: at, notAfter: issued.notAfter };
  };
  return {
    initial: await issue(now()),
    async next(event, current, logger) {
      const pair = current as Issued;
      const at = now();
      const renew = at >= pair.issuedAt + ((pair.notAfter - pair.issuedAt) * 2) / 3 || ca.id !== pair.signer;
      if (event === 'files' || !renew) return current;
      const next = await issue(at);
      const serial = new X509Certificate(next.certPem).serialNumber;
      logger.info({ serial, notAfter: new Date(next.notAfter).toISOString(), ca: next.signer }, 'server certificate renewed');
      return next;
    },
    failure: 'server certificate renewal failed; the listener keeps its current certificate',
    announce: () => undefined,
    watch: () => () => undefined,
  };
}

async function ownFiles(deps: ServerTlsDeps, files: ServerCertificateFiles): Promise<CertificateSource> {
  // Taken before the read: a change while reading is then seen by the first poll.
  let seen = await signature(files);
  const first = await readOwnCertificate(files, deps.now());
  const uncovered = (leaf: X509Certificate): boolean => !certificateCovers(leaf, deps.issuerHost);
  const coverageWarning =
    `the server certificate in ${files.certFile} does not cover the issuer host ${deps.issuerHost}: clients that follow ` +
    'the issuer will fail their host-name check; add the name to the certificate, or set --issuer to a name it covers';
  return {
    initial: { keyPem: first.keyPem, certPem: first.certPem },
    async next(event, current, logger) {
      if (event !== 'files') return current;
      const read = await readOwnCertificate(files, deps.now());
      if (read.certPem === current.certPem && read.keyPem === current.keyPem) return current;
      logger.info({ certFile: files.certFile, fingerprint: read.fingerprint, notAfter: new Date(read.notAfter).toISOString() }, 'server certificate reloaded');
      if (uncovered(read.leaf)) logger.warn({ certFile: files.certFile, issuerHost: deps.issuerHost }, coverageWarning);
      return { keyPem: read.keyPem, certPem: read.certPem };
    },
    failure: 'server certificate files could not be reloaded; the listener keeps its current certificate',
    announce(logger) {
      logger.info(
        { certFile: files.certFile, fingerprint: first.fingerprint, notAfter: new Date(first.notAfter).toISOString() },
        'serving the server certificate from files',
      );
      if (uncovered(first.leaf)) logger.warn({ certFile: files.certFile, issuerHost: deps.issuerHost }, coverageWarning);
    },
    watch(changed) {
      // A poll rather than fs.watch: it also sees a file replaced by rename and a Kubernetes
      // secret volume swapping its symlink, and costs two stat calls per interval.
      const timer = setInterval(() => {
        void signature(files).then((now) => {
          if (now === seen) return;
          seen = now;
          changed();
        });
      }, deps.pollMs ?? DEFAULT_POLL_MS);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/** What changes when either file is written or replaced; a missing file is a state of its own. */
async function signature(files: ServerCertificateFiles): Promise<string> {
  const parts = await Promise.all(
    [files.certFile, files.keyFile].map((path) =>
      stat(path).then(
        (info) => `${info.ino}:${info.size}:${info.mtimeMs}`,
        () => 'missing',
      ),
    ),
  );
  return parts.join('|');
}

// Tessera's own HTTPS listener: a server certificate from its CA, renewed in place at 2/3 of its
// life or as soon as a CA rotation hands signing to another generation, and the trust bundle for
// client certificates kept equal to the CA's. setSecureContext applies to new handshakes only, so
// open connections keep theirs and nothing restarts.

import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateAuthority } from '../ca/index.ts';

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
  error(details: object, message: string): void;
}

export interface ServerTls {
  /** The listener's options at start. */
  readonly options: ListenerTlsOptions;
  /** From now on, renews on `server` (`app.server`) whenever the CA refreshes or its bundle changes. */
  keepFresh(server: { setSecureContext(options: SecureContextOptions): void }, logger: ServerTlsLogger): void;
}

export interface ServerTlsDeps {
  ca: Pick<CertificateAuthority, 'id' | 'bundlePem' | 'issueServerCertificate' | 'onBundleChange' | 'onRefresh'>;
  listen: URL;
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

interface Current {
  keyPem: string;
  certPem: string;
  chainPem: string;
  /** The CA generation that signed it. */
  signer: string;
  issuedAt: number;
  notAfter: number;
}

export async function serverTls(deps: ServerTlsDeps): Promise<ServerTls> {
  const { ca, now } = deps;
  const names = listenerNames(deps.listen);
  const issue = async (at: number): Promise<Current> => {
    const signer = ca.id;
    const issued = await ca.issueServerCertificate({ ...names, lifetimeSeconds: deps.lifetimeSeconds, now: at });
    return { keyPem: issued.keyPem, certPem: issued.certPem, chainPem: issued.chainPem, signer, issuedAt: at, notAfter: issued.notAfter };
  };
  const contextOf = (current: Current, bundlePem: string): ListenerTlsOptions => ({
    key: current.keyPem,
    cert: current.certPem + current.chainPem,
    ca: bundlePem,
    // Client certificates are requested but optional; the mTLS issue verifies them.
    requestCert: true,
    rejectUnauthorized: false,
  });

  let current = await issue(now());
  let bundlePem = ca.bundlePem;
  const options = contextOf(current, bundlePem);

  return {
    options,
    keepFresh(server, logger) {
      const check = async (): Promise<void> => {
        try {
          const at = now();
          const renew = at >= current.issuedAt + ((current.notAfter - current.issuedAt) * 2) / 3 || ca.id !== current.signer;
          if (!renew && ca.bundlePem === bundlePem) return;
          const next = renew ? await issue(at) : current;
          server.setSecureContext(contextOf(next, ca.bundlePem));
          current = next;
          bundlePem = ca.bundlePem;
          if (renew) {
            const serial = new X509Certificate(next.certPem).serialNumber;
            logger.info({ serial, notAfter: new Date(next.notAfter).toISOString(), ca: next.signer }, 'server certificate renewed');
          }
        } catch (error) {
          logger.error({ err: error }, 'server certificate renewal failed; the listener keeps its current certificate');
        }
      };
      // One check at a time, whichever of the two events asks.
      let queue = Promise.resolve();
      const enqueue = (): Promise<void> => (queue = queue.then(check));
      ca.onRefresh(enqueue);
      ca.onBundleChange(enqueue);
    },
  };
}

/** Names the certificate is valid for: loopback always, the listen host, and this host's name when listening on every interface. */
function listenerNames(listen: URL): { dnsNames: string[]; ipAddresses: string[] } {
  const host = listen.hostname.replace(/^\[|\]$/g, '');
  const wildcard = host === '0.0.0.0' || host === '::';
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return {
    dnsNames: [...new Set(['localhost', ...(isIp ? [] : [host]), ...(wildcard ? [hostname()] : [])])],
    ipAddresses: [...new Set(['127.0.0.1', '::1', ...(isIp && !wildcard ? [host] : [])])],
  };
}

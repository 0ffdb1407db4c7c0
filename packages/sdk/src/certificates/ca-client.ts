// Talks to Tessera's CA: `GET /ca/v1/bundle` and `POST /ca/v1/certificates`, over the
// SDK's node:https client, which can present the current certificate for renewal over mTLS.

import { Agent } from 'node:https';
import type { TlsTrust } from '../http/anchors.ts';
import { sendRequest, type HttpResponse } from '../http/request.ts';
import { parseTrustBundle } from '../http/trust-bundle.ts';
import { CertificateRefresherError } from './errors.ts';

export const CERTIFICATES_PATH = '/ca/v1/certificates';
export const BUNDLE_PATH = '/ca/v1/bundle';

/** The `proof` member of a certificate request; absent for renewal over mTLS. */
export interface CertificateProof {
  type: 'join-token' | 'key-assertion' | 'oidc-token';
  value: string;
}

export interface IssueRequest {
  /** PEM PKCS#10 request. */
  csr: string;
  proof?: CertificateProof;
  /** The current certificate and key, presented as the TLS client certificate: the renewal proof. */
  tls?: { cert: string; key: string };
}

/** A 201 answer as sent; the refresher checks it before using it. */
export interface IssueAnswer {
  certificate: string;
  chain: string;
}

/** What the refresher needs of the CA. */
export interface CaClient {
  /** `<server>/ca/v1/certificates`, which is also the audience of key assertions. */
  readonly certificatesUrl: string;
  /** The PEM trust bundle: CA certificates and nothing else (a leaf or an error page is refused). */
  bundle(): Promise<string>;
  issue(request: IssueRequest): Promise<IssueAnswer>;
  /** Closes the sockets it opened. */
  close(): void;
}

export interface HttpsCaClientOptions {
  server: string;
  /** What Tessera's certificate must chain to, asked before each request (it grows with CA rotations). */
  trust: () => TlsTrust;
  timeoutMs: number;
  /** Aborts requests under way: `close()` of the refresher. */
  signal: AbortSignal;
}

export function httpsCaClient(options: HttpsCaClientOptions): CaClient {
  const base = options.server.replace(/\/+$/, '');
  const certificatesUrl = `${base}${CERTIFICATES_PATH}`;
  // Renewals are hours apart: a connection kept open between them would only hold a socket.
  const agent = new Agent({ keepAlive: false });
  const send = async (url: string, what: string, request: Parameters<typeof sendRequest>[1]): Promise<HttpResponse> => {
    try {
      const { timeoutMs, signal } = options;
      return await sendRequest(new URL(url), { ...request, trust: options.trust(), agent, timeoutMs, signal });
    } catch (cause) {
      if (options.signal.aborted) throw new CertificateRefresherError('the certificate refresher was closed', { code: 'ERR_REFRESHER_CLOSED', cause });
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new CertificateRefresherError(`${what} got no answer (${reason}); check the server URL and that ca holds Tessera's CA`, {
        code: 'ERR_CA_UNAVAILABLE',
        cause,
      });
    }
  };
  return {
    certificatesUrl,
    async bundle() {
      const url = `${base}${BUNDLE_PATH}`;
      const what = `trust bundle request to ${url}`;
      const res = await send(url, what, { headers: { accept: 'application/pem-certificate-chain, text/plain;q=0.9' } });
      if (res.status !== 200) throw errorFromAnswer(res, what);
      try {
        return parseTrustBundle(res.body);
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new CertificateRefresherError(`${what}: ${reason} (is ${base} a Tessera server?)`, { code: 'ERR_CA_ANSWER_INVALID', status: res.status, cause });
      }
    },
    async issue(request) {
      const what = `certificate request to ${certificatesUrl}`;
      const body = JSON.stringify({ csr: request.csr, ...(request.proof === undefined ? {} : { proof: request.proof }) });
      const res = await send(certificatesUrl, what, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        cert: request.tls?.cert,
        key: request.tls?.key,
      });
      if (res.status !== 201 && res.status !== 200) throw errorFromAnswer(res, what);
      const answer = parseJson(res.body);
      if (typeof answer['certificate'] !== 'string' || typeof answer['chain'] !== 'string') {
        throw new CertificateRefresherError(`${what}: the answer lacks "certificate" or "chain" (is ${base} a Tessera server?)`, {
          code: 'ERR_CA_ANSWER_INVALID',
          status: res.status,
        });
      }
      return { certificate: answer['certificate'], chain: answer['chain'] };
    },
    close() {
      agent.destroy();
    },
  };
}

function parseJson(body: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** 408, 429 and 5xx may pass; any other refusal is the CA's answer to this very request. */
function errorFromAnswer(res: HttpResponse, what: string): CertificateRefresherError {
  const body = parseJson(res.body);
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  const error = text(body['error']);
  const errorDescription = text(body['message']) ?? text(body['error_description']);
  const retryAfterHeader = res.headers['retry-after'];
  const retryAfter = typeof retryAfterHeader === 'string' && /^\d+$/.test(retryAfterHeader.trim()) ? Number(retryAfterHeader.trim()) : undefined;
  const detail = `${res.status}${error ? ` ${error}` : ''}${errorDescription ? `: ${errorDescription}` : ''}`;
  const passing = res.status === 408 || res.status === 429 || res.status >= 500;
  return passing
    ? new CertificateRefresherError(`${what} failed (${detail})`, { code: 'ERR_CA_UNAVAILABLE', status: res.status, error, errorDescription, retryAfter })
    : new CertificateRefresherError(`${what} was refused (${detail})`, { code: 'ERR_CA_REFUSED', status: res.status, error, errorDescription });
}

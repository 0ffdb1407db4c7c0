// The client certificate of a request, and whether Tessera trusts it. Every use of a client
// certificate goes through here (tls_client_auth, self_signed_tls_client_auth, certificate
// login, certificate renewal), so what counts as a trusted certificate is decided once.
//
// Where the certificate comes from:
// - the TLS connection (the listener requests a certificate and accepts any, see http/server-tls.ts;
//   TLS itself has proved the client holds the key);
// - or, behind a TLS-terminating proxy, the header named by `mtls.proxyCertHeader` (URL-encoded
//   PEM, as nginx's `$ssl_client_escaped_cert`), believed only when the TCP peer is one of
//   `trustedProxies`. From such a peer the header is the only source: the connection's own
//   certificate, if any, is the proxy's, not the client's. From anyone else the header is
//   ignored, so a client cannot name a certificate it does not hold.
//
// What "trusted" means: a path to Tessera's CA (the issuing certificate of every generation the
// caller hands in) or to one of the configured external CAs (chain.ts), within its validity
// period, with a usable extended key usage. A certificate on a path to Tessera's CA must
// moreover be one Tessera issued: its serial recorded with this very thumbprint under that
// generation, and not revoked. Only then does it name a Tessera principal (the record's, which
// its SPIFFE ID must repeat). External CAs are not checked for revocation: Tessera does not
// fetch their CRLs.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { TLSSocket, type DetailedPeerCertificate } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { ipAllowed } from '../policy/ip-ranges.ts';
import type { Store } from '../storage/store.ts';
import { principalOfSpiffeIds } from '../ca/service-identity.ts';
import {
  MAX_INTERMEDIATES,
  checkValidity,
  extensionProblem,
  oneLine,
  recheckValidity,
  validatePath,
  type CertificateSource,
  type TrustAnchor,
  type ValidPath,
} from './chain.ts';
import { ClientCertificateError } from './errors.ts';
import { certificateFacts, certificateThumbprint, checkExtendedKeyUsage, type CertificateFacts, type CertificateNames } from './identity.ts';
import type { TesseraCa } from './tessera-cas.ts';

/** The parts of a request this module reads. */
export type TlsRequest = Pick<FastifyRequest, 'raw' | 'headers'>;

export interface PresentedCertificate {
  leaf: X509Certificate;
  /** What the client sent after its certificate (intermediates), untrusted until verified. */
  chain: readonly X509Certificate[];
  via: 'tls' | 'proxy-header';
}

export interface VerifiedClientCertificate {
  certificate: X509Certificate;
  /** The DER certificate (the same bytes as `certificate.raw`). */
  raw: Buffer;
  source: CertificateSource;
  /** Only for certificates Tessera issued: the principal recorded at issuance (and named by the SPIFFE ID). */
  principal?: string;
  /** For an external CA's certificate: the configured file of the CA it chains to (what mappings name). */
  caFile?: string;
  /** null when the certificate has no extendedKeyUsage extension. */
  extendedKeyUsages: readonly string[] | null;
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** Lower-case hex. */
  serial: string;
  names: CertificateNames;
}

/** A configured external CA certificate and the file it was read from. */
export interface ExternalCa {
  certificate: X509Certificate;
  file: string;
}

export interface ClientCertificatesDeps {
  /** The issuing certificate of every Tessera CA generation; asked per request, a new array when they change. */
  tesseraCas: () => readonly TesseraCa[];
  /** SPIFFE trust domain of Tessera's service certificates. */
  trustDomain: string;
  /** CA certificates whose client certificates are trusted besides Tessera's (see readCaFiles). */
  externalCas: readonly ExternalCa[];
  store: Pick<Store, 'getCertificate'>;
  /** CIDR blocks of TLS-terminating proxies (config `trustedProxies`). */
  trustedProxies: readonly string[];
  /** Header holding the proxy's client certificate; null = never read. */
  proxyCertHeader: string | null;
  now: () => number;
}

export interface ClientCertificates {
  /** The certificate the client presented, unverified; null when none. Throws ClientCertificateError when a proxy header does not parse. */
  presented(request: TlsRequest): PresentedCertificate | null;
  /** Throws ClientCertificateError (401) unless the certificate is trusted (see the top of this file). */
  verify(presented: PresentedCertificate): Promise<VerifiedClientCertificate>;
  /** The request's client certificate, verified; null when the client presented none. */
  peerCertificate(request: TlsRequest): Promise<VerifiedClientCertificate | null>;
  /** RFC 8705 §2.2: a self-signed certificate is not chain-validated, only dated; the caller matches its key. */
  checkSelfSigned(presented: PresentedCertificate): { certificate: X509Certificate; thumbprint: string };
  /** The same checks with another set of external CAs (certificate login trusts `certLogin.trustedCas`). */
  trusting(externalCas: readonly ExternalCa[]): ClientCertificates;
}

type Presented = { value: PresentedCertificate | null } | { error: ClientCertificateError };

interface Analysis {
  path: ValidPath;
  facts: CertificateFacts;
  thumbprint: string;
}

const ANALYSIS_CACHE_SIZE = 1024;

export function createClientCertificates(deps: ClientCertificatesDeps): ClientCertificates {
  let tesseraCas: readonly TesseraCa[] | undefined;
  let anchors: TrustAnchor[] = [];
  /** Bumped whenever the anchors change, so analyses made against the old ones are never used. */
  let anchorsVersion = 0;
  const externalAnchors: TrustAnchor[] = deps.externalCas.map(({ certificate, file }) => ({ certificate, source: 'external', file }));
  // present() of two client-auth methods and then authenticate() all ask; the answer is read once per request.
  const seen = new WeakMap<IncomingMessage, Presented>();
  // A service presents the same certificate for hours. Its path and extensions are worked out once
  // (reading the extensions alone costs most of a millisecond); validity, usage and revocation
  // are still checked on every request.
  const analyses = new Map<string, Analysis>();

  const refreshAnchors = (): void => {
    const current = deps.tesseraCas();
    if (current === tesseraCas) return;
    // Tessera's first: a CA configured as external too still yields Tessera's principal and revocation check.
    const own = current.map(({ caId, certificate }): TrustAnchor => ({ certificate, source: 'tessera', caId }));
    anchors = [...own, ...externalAnchors];
    tesseraCas = current;
    anchorsVersion += 1;
    analyses.clear();
  };

  const analyse = ({ leaf, chain }: PresentedCertificate, now: number): Analysis => {
    refreshAnchors();
    const thumbprint = certificateThumbprint(leaf);
    const key = [anchorsVersion, thumbprint, ...chain.map((certificate) => certificate.fingerprint256)].join(' ');
    const known = analyses.get(key);
    if (known) {
      recheckValidity(leaf, known.path, now);
      return known;
    }
    const analysis = { path: validatePath(leaf, chain, anchors, now), facts: certificateFacts(leaf), thumbprint };
    if (analyses.size >= ANALYSIS_CACHE_SIZE) analyses.delete(analyses.keys().next().value!);
    analyses.set(key, analysis);
    return analysis;
  };

  const presented = (request: TlsRequest): PresentedCertificate | null => {
    let answer = seen.get(request.raw);
    if (answer === undefined) {
      try {
        answer = { value: readPresented(request, deps) };
      } catch (error) {
        if (!(error instanceof ClientCertificateError)) throw error;
        answer = { error };
      }
      seen.set(request.raw, answer);
    }
    if ('error' in answer) throw answer.error;
    return answer.value;
  };

  const verify = async (certificate: PresentedCertificate): Promise<VerifiedClientCertificate> => {
    const { leaf } = certificate;
    const { path, facts, thumbprint } = analyse(certificate, deps.now());
    // What TLS stacks check; a mapping may demand more (certLogin.requireClientAuthEku, mapping.ts).
    checkExtendedKeyUsage(facts.extendedKeyUsages, 'if-present');
    const { serial } = facts;
    const { source, caId, file } = path.anchor;
    let principal: string | undefined;
    if (source === 'tessera') {
      // The one store read of the hot path: whether Tessera issued it, to whom, and whether it was revoked.
      const record = await deps.store.getCertificate(serial);
      if (record === null || record.thumbprint !== thumbprint || record.caId !== caId) {
        throw new ClientCertificateError(
          'untrusted',
          `the client certificate chains to Tessera's CA but was not issued by Tessera (no record of serial ${serial} with this thumbprint ` +
            'from that CA generation); use a certificate Tessera issued',
        );
      }
      if (record.revokedAt !== null) {
        throw new ClientCertificateError(
          'revoked',
          `the client certificate (serial ${serial}) was revoked at ${new Date(record.revokedAt).toISOString()}; get a new certificate`,
        );
      }
      if (principalOfSpiffeIds(facts.names.uris, deps.trustDomain) === record.principal) principal = record.principal;
    }
    return {
      certificate: leaf,
      raw: leaf.raw,
      source,
      ...(principal !== undefined && { principal }),
      ...(source === 'external' && file !== undefined && { caFile: file }),
      thumbprint,
      serial,
      names: facts.names,
      extendedKeyUsages: facts.extendedKeyUsages,
    };
  };

  return {
    presented,
    verify,
    async peerCertificate(request) {
      const certificate = presented(request);
      return certificate === null ? null : verify(certificate);
    },
    checkSelfSigned({ leaf }) {
      checkValidity(leaf, deps.now(), 'the client certificate');
      return { certificate: leaf, thumbprint: certificateThumbprint(leaf) };
    },
    trusting(externalCas) {
      return createClientCertificates({ ...deps, externalCas });
    },
  };
}

/**
 * Reads CA certificates from PEM files at start. A file that is missing, holds no CA certificate,
 * or a CA that cannot be a trust anchor here (chain.ts: an unknown critical extension, name or
 * policy constraints) stops the server.
 */
export async function readCaFiles(paths: readonly string[], setting: string): Promise<ExternalCa[]> {
  const cas: ExternalCa[] = [];
  for (const path of paths) {
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`${setting}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    let found: X509Certificate[];
    try {
      found = certificatesInPem(pem);
    } catch (error) {
      throw new Error(`${setting}: ${path} ${(error as Error).message}`);
    }
    if (found.length === 0) throw new Error(`${setting}: ${path} holds no PEM certificate`);
    const notCa = found.find((certificate) => !certificate.ca);
    if (notCa) throw new Error(`${setting}: ${path} holds a certificate that is not a CA (${oneLine(notCa.subject)}); list CA certificates only`);
    for (const certificate of found) {
      const problem = extensionProblem(certificate, `the CA "${oneLine(certificate.subject)}"`);
      if (problem !== null) throw new Error(`${setting}: ${path}: ${problem}`);
      cas.push({ certificate, file: path });
    }
  }
  return cas;
}

function readPresented(request: TlsRequest, deps: ClientCertificatesDeps): PresentedCertificate | null {
  if (deps.proxyCertHeader !== null && fromTrustedProxy(request, deps.trustedProxies)) {
    return fromHeader(request.headers[deps.proxyCertHeader.toLowerCase()], deps.proxyCertHeader);
  }
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket)) return null;
  const peer = socket.getPeerCertificate(true);
  if (!peer?.raw) return null;
  const chain: X509Certificate[] = [];
  const walked = new Set<DetailedPeerCertificate>([peer]);
  for (let next = peer.issuerCertificate; next?.raw && !walked.has(next) && chain.length < MAX_INTERMEDIATES; next = next.issuerCertificate) {
    walked.add(next);
    chain.push(new X509Certificate(next.raw));
  }
  return { leaf: new X509Certificate(peer.raw), chain, via: 'tls' };
}

function fromTrustedProxy(request: TlsRequest, trustedProxies: readonly string[]): boolean {
  const peer = request.raw.socket.remoteAddress;
  return peer !== undefined && trustedProxies.length > 0 && ipAllowed(trustedProxies, peer);
}

function fromHeader(value: string | string[] | undefined, header: string): PresentedCertificate | null {
  if (value === undefined || value === '') return null;
  if (Array.isArray(value)) throw new ClientCertificateError('malformed', `the proxy sent the ${header} header more than once; send one client certificate`);
  let pem: string;
  try {
    pem = decodeURIComponent(value);
  } catch {
    throw new ClientCertificateError('malformed', `the ${header} header is not URL-encoded PEM`);
  }
  let certificates: X509Certificate[];
  try {
    certificates = certificatesInPem(pem);
  } catch (error) {
    throw new ClientCertificateError('malformed', `the ${header} header ${(error as Error).message}`);
  }
  const [leaf, ...chain] = certificates;
  if (leaf === undefined) throw new ClientCertificateError('malformed', `the ${header} header holds no PEM certificate`);
  return { leaf, chain: chain.slice(0, MAX_INTERMEDIATES), via: 'proxy-header' };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----/g;

/** Throws an Error whose message completes "<the source> …" when a block does not parse. */
function certificatesInPem(pem: string): X509Certificate[] {
  return [...pem.matchAll(PEM_CERTIFICATE)].map((match, index) => {
    try {
      return new X509Certificate(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'));
    } catch {
      throw new Error(`holds a PEM certificate (number ${index + 1}) that does not parse as X.509`);
    }
  });
}

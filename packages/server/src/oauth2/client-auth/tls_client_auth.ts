// tls_client_auth (RFC 8705 §2.1): the client authenticates with a certificate from a CA
// Tessera trusts. A certificate Tessera issued names the principal it was issued to; one from a
// configured external CA is mapped to a principal by the `certLogin.mappings` that name its CA. `client_id`
// is optional here (the certificate names the client), but when sent it must be that client's.
//
// Both certificate methods are ambient: they count only when the request carries no explicit
// credentials (authenticateClient decides). Then the certificate decides which of the two it
// is: a self-issued one is self_signed_tls_client_auth, any other tls_client_auth.

import type { X509Certificate } from 'node:crypto';
import {
  ClientCertificateError,
  subjectText,
  type CertificateMapper,
  type ClientCertificates,
  type PresentedCertificate,
  type VerifiedClientCertificate,
} from '../../mtls/index.ts';
import type { Service } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import { OAuthError } from '../errors.ts';
import type { BoundCertificate, ClientAuthMethod, ClientAuthRequest } from './method.ts';

export interface TlsClientAuthDeps {
  certificates: ClientCertificates;
  store: Pick<Store, 'getService'>;
  /** Maps certificates from external CAs to principals (`certLogin.mappings`, with their EKU rule). */
  mapper: CertificateMapper;
}

export function tlsClientAuth(deps: TlsClientAuthDeps): ClientAuthMethod {
  return {
    name: 'tls_client_auth',
    ambient: true,
    present(request) {
      const presented = presentedCertificate(deps.certificates, request);
      return presented === 'unreadable' || (presented !== null && !isSelfIssued(presented.leaf));
    },
    async authenticate(request) {
      const peer = await certificateCheck(() => deps.certificates.verify(presentedOf(deps.certificates, request)));
      const service = await serviceOfCertificate(deps, peer);
      const clientId = request.form['client_id'];
      if (clientId !== undefined && clientId !== service.clientId) {
        throw certificateRejected(
          `client_id "${clientId.slice(0, 80)}" is not the client the certificate names (${service.clientId}); send that client_id or none`,
        );
      }
      return { service, method: 'tls_client_auth', certificate: boundTo(peer) };
    },
  };
}

/**
 * The service a trusted certificate names: the recorded principal for one Tessera issued, the
 * first mapping rule naming its CA for an external CA's.
 */
export async function serviceOfCertificate(deps: Pick<TlsClientAuthDeps, 'store' | 'mapper'>, peer: VerifiedClientCertificate): Promise<Service> {
  const principal = peer.source === 'tessera' ? peer.principal : await certificateCheck(() => deps.mapper(peer));
  if (principal === undefined) {
    throw certificateRejected(
      peer.source === 'tessera'
        ? "the certificate from Tessera's CA carries no service identity (SPIFFE ID); use a service certificate"
        : `no certLogin.mappings rule maps this certificate (subject "${subjectText(peer.names)}") to a principal; ask an operator to add one`,
    );
  }
  const service = await deps.store.getService(principal);
  if (!service) throw certificateRejected(`the certificate names ${principal}, which is not a registered service`);
  return service;
}

/** What a token issued on the strength of this certificate is bound to. */
export function boundTo(peer: { certificate: X509Certificate; thumbprint: string }): BoundCertificate {
  return { thumbprint: peer.thumbprint, notAfter: peer.certificate.validToDate.getTime() };
}

/**
 * The presented certificate; 'unreadable' when a proxy's certificate header does not parse
 * (authenticate then says why); null when there is none.
 */
export function presentedCertificate(certificates: ClientCertificates, request: ClientAuthRequest): PresentedCertificate | 'unreadable' | null {
  if (request.http === undefined) return null;
  try {
    return certificates.presented(request.http);
  } catch (error) {
    if (error instanceof ClientCertificateError) return 'unreadable';
    throw error;
  }
}

export function presentedOf(certificates: ClientCertificates, request: ClientAuthRequest): PresentedCertificate {
  const presented = request.http === undefined ? null : certificates.presented(request.http);
  if (presented === null) throw certificateRejected('no client certificate was presented; connect with mutual TLS');
  return presented;
}

/** Runs a certificate check, answering its refusal as the token endpoint's invalid_client. */
export async function certificateCheck<T>(check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof ClientCertificateError) throw certificateRejected(error.message);
    throw error;
  }
}

export function certificateRejected(why: string): OAuthError {
  return new OAuthError(401, 'invalid_client', `client certificate rejected: ${why}`, { errorCode: 'AUTH_101' });
}

/** RFC 5280 §3.2 self-issued: subject and issuer are the same name (checkIssued would also demand keyCertSign). */
export function isSelfIssued(certificate: X509Certificate): boolean {
  return certificate.subject === certificate.issuer;
}

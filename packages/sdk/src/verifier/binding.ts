// Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` carries `x5t#S256` is good
// only from a caller whose TLS client certificate has that SHA-256 thumbprint. The certificate
// need not chain to a CA this service trusts: the TLS handshake already proved the caller holds
// its private key, and the issuer vouched for the binding when it signed the token.

import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { InvalidTokenError } from './errors.ts';
import type { CertificateInput } from './options.ts';

/** base64url(SHA-256(DER)), the `x5t#S256` of RFC 8705 §3.1. */
export function certificateThumbprint(certificate: CertificateInput): string {
  const der = certificate instanceof X509Certificate ? certificate.raw : certificate instanceof Uint8Array ? certificate : certificate.raw;
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * The thumbprint a token is bound to, or null when it is not bound. A `cnf` this verifier
 * cannot check (another confirmation method, a malformed value) is refused rather than ignored:
 * ignoring it would turn a bound token into a bearer token.
 */
export function boundThumbprint(cnf: unknown): string | null {
  if (cnf === undefined) return null;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    throw new InvalidTokenError('binding', 'the token\'s "cnf" claim is not an object; it cannot be accepted');
  }
  const methods = Object.keys(cnf);
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  if (methods.length !== 1 || typeof thumbprint !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(thumbprint)) {
    throw new InvalidTokenError(
      'binding',
      `the token is bound by a confirmation method this service cannot check (${methods.join(', ') || 'empty cnf'}); only "x5t#S256" is supported`,
    );
  }
  return thumbprint;
}

/** Throws unless the caller's certificate is the one the token is bound to. */
export function checkBinding(bound: string | null, peer: (() => string | null) | null): void {
  if (bound === null) return;
  const presented = peer?.() ?? null;
  if (presented === null) {
    throw new InvalidTokenError(
      'binding',
      'the token is bound to a client certificate (cnf x5t#S256), but the request came without one; call over mutual TLS with that certificate',
    );
  }
  const a = Buffer.from(presented);
  const b = Buffer.from(bound);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new InvalidTokenError('binding', 'the token is bound to another client certificate than the one this request came with (cnf x5t#S256 mismatch)');
  }
}

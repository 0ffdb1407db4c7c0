// The trust anchors the SDK takes from Tessera's trust bundle: its issuing CAs, never a root above
// them. Tessera's ca.pem and /ca/v1/bundle hold, for each CA generation, the issuing CA and its
// issuers up to the root. The root of an imported CA (`ca.import`) is the operator's and may sign
// other intermediates too; anchoring on it would let anyone holding a certificate from such a
// sibling stand in for Tessera (serve the JWKS verifiers use, receive token clients' secrets) or
// pass as a Tessera-issued service peer. Tessera's own mTLS anchors on the same issuing CAs.
//
// Which certificates are the issuing CAs is read off the bundle itself: a CA certificate that
// issued no other CA certificate of the same bundle. That handles root → issuing, root → middle →
// issuing, two generations during a rotation, and two imported issuing CAs under one root, with no
// marker a PEM bundle cannot carry (and an older SDK would refuse). A bundle of roots alone, as
// Tessera published before, yields the roots: nothing breaks, nothing is narrowed.
//
// OpenSSL ends a chain only at a self-signed anchor unless told otherwise, in one of two ways, and
// the trust carries both. `allowPartialTrustChain` (Node ≥ 22.9.0 / 20.18.0) is honoured by
// `tls.connect`, `https.request` and `tls.createSecureContext`, but a `tls.Server` (and so
// `https.createServer` and `setSecureContext`) drops it when it builds its context (Node 24.21).
// So each anchor that is not self-signed is also given as a "TRUSTED CERTIFICATE" (a form Node
// documents for `ca`) marked as trusted for TLS server and client authentication: OpenSSL ends a
// chain at an explicitly trusted certificate, on servers and clients alike.

import { X509Certificate } from 'node:crypto';

/** Trust as `tls.connect`, `https.request`, `https.createServer` and `tls.createSecureContext` take it. */
export interface TlsTrust {
  /** PEM anchors, each a full anchor. */
  ca: string;
  /** Lets an anchor that is not self-signed end a chain (where Node passes it on). */
  allowPartialTrustChain: true;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** OpenSSL's X509_CERT_AUX { trust: [serverAuth, clientAuth] }: DER appended to the certificate's. */
const TLS_TRUST_AUX = Buffer.from('3016301406082b0601050507030106082b06010505070302', 'hex');

/**
 * The anchors of Tessera's trust bundle `pem`: every certificate except a CA that issued another
 * CA certificate of `pem`. A self-signed certificate never counts as issued by another (a root
 * re-issued with its key). A block that does not parse is kept as it is: in a configured `ca`
 * that is the user's anchor (Node decides what to make of it); a fetched bundle was checked before.
 */
export function issuingCas(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  const parsed = blocks.map((block) => new X509Certificate(block));
  const cas = parsed.filter((certificate) => certificate.ca);
  const issued = (other: X509Certificate, issuer: X509Certificate): boolean =>
    other !== issuer && !isSelfSigned(other) && other.checkIssued(issuer) && other.verify(issuer.publicKey);
  const issuedAnother = (issuer: X509Certificate): boolean => cas.some((other) => issued(other, issuer));
  return parsed.filter((certificate) => !(certificate.ca && issuedAnother(certificate)));
}

/**
 * Trust for a connection to Tessera or to a peer holding a Tessera certificate: the issuing CAs
 * of the configured `ca` and of the bundle fetched from Tessera. Each set is read on its own, so
 * a bundle never narrows what `ca` says: a CA of the user's own alone in `ca` (the one of an
 * operator's server certificate, say) stays a full anchor. A `ca` that is not plain PEM
 * certificates (a "TRUSTED CERTIFICATE" of the user's, a typo) is left for Node to read, as before.
 */
export function tesseraTrust(ca: string | Buffer, bundle?: string): TlsTrust {
  const text = ca.toString();
  const own = ownAnchors(text);
  const fetched = bundle === undefined ? [] : issuingCas(bundle).map(anchorPem);
  return { ca: `${[...new Set([...own, ...fetched])].join('\n')}\n`, allowPartialTrustChain: true };
}

function ownAnchors(text: string): string[] {
  const rest = text.replace(PEM_CERTIFICATE, '');
  if (rest.length === text.length || rest.includes('-----BEGIN')) return [text.trim()];
  try {
    return issuingCas(text).map(anchorPem);
  } catch {
    return [text.trim()];
  }
}

function anchorPem(certificate: X509Certificate): string {
  if (isSelfSigned(certificate)) return certificate.toString().trim();
  const der = Buffer.concat([certificate.raw, TLS_TRUST_AUX]).toString('base64');
  return `-----BEGIN TRUSTED CERTIFICATE-----\n${der.match(/.{1,64}/g)?.join('\n')}\n-----END TRUSTED CERTIFICATE-----`;
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

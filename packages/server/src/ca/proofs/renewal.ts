// Proof `renewal` (docs/certificates.md, Renewal; the request has no `proof`): the client presents, over mutual
// TLS, its current certificate from Tessera's CA, and gets a new one for the same identity. The
// TLS handshake proved that the client holds that certificate's private key; what is checked
// here is that Tessera issued exactly this certificate (serial and SHA-256 thumbprint as
// recorded at issuance, so a certificate from another CA with a colliding serial does not
// count), that it is still within its validity, that its serial was not revoked, and that the
// service is still ACTIVE. The new CSR may carry a new key: renewal is also how keys rotate.
//
// The TLS layer (src/mtls) already refuses expired, revoked and untrusted certificates before
// this runs; the proof checks again against the store so that it stands on its own, whatever
// verified the certificate it is handed.

import { createHash } from 'node:crypto';
import type { Store } from '../../storage/store.ts';
import { principalOfSpiffeIds } from '../service-identity.ts';
import { x509 } from '../x509.ts';
import { notProven, requireActiveService, type CertificateProof } from './proof.ts';

export interface RenewalDeps {
  store: Pick<Store, 'getService' | 'getCertificate'>;
  /** SPIFFE trust domain of this CA: the identity is read from the certificate's URI SAN. */
  trustDomain: string;
}

export function renewalProof(deps: RenewalDeps): CertificateProof {
  return {
    type: 'renewal',
    async prove({ peer, now, clientIp }) {
      if (!peer) {
        throw notProven(
          'no proof was sent and no client certificate was presented: send proof {"type", "value"}, or renew over mutual TLS with the current certificate',
        );
      }
      let certificate: x509.X509Certificate;
      try {
        certificate = new x509.X509Certificate(peer.raw);
      } catch (cause) {
        throw notProven('the client certificate does not parse as X.509', { cause });
      }
      const serial = certificate.serialNumber.toLowerCase();
      const thumbprint = createHash('sha256').update(peer.raw).digest('base64url');
      const record = await deps.store.getCertificate(serial);
      if (!record || record.thumbprint !== thumbprint) {
        throw notProven(
          'the client certificate was not issued by this Tessera CA; renewal needs the current certificate Tessera issued (bootstrap again with a join token or a registered key)',
        );
      }
      if (record.revokedAt !== null) {
        throw notProven(
          `certificate ${serial} was revoked at ${new Date(record.revokedAt).toISOString()}; bootstrap a new one with a join token or a registered key`,
        );
      }
      if (now >= certificate.notAfter.getTime()) {
        throw notProven(
          `the client certificate expired at ${certificate.notAfter.toISOString()}; renewal needs an unexpired certificate, so bootstrap again with a join token or a registered key`,
        );
      }
      if (now < certificate.notBefore.getTime()) throw notProven(`the client certificate is not valid before ${certificate.notBefore.toISOString()}`);
      const sans = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
      const uris = sans.filter((name) => name.type === 'url').map((name) => name.value);
      const principal = principalOfSpiffeIds(uris, deps.trustDomain);
      if (principal !== record.principal) {
        throw notProven(`the client certificate names ${principal ?? 'no principal'}, but it was issued to ${record.principal}`);
      }
      await requireActiveService(deps.store, principal, { clientIp, now });
      return { principal, renewedFrom: serial };
    },
  };
}

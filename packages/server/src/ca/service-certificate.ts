// A service (SPIFFE X.509-SVID) certificate from a CSR: the profile of docs/certificates.md, and a record of it in
// the store before anyone sees it, so every certificate in circulation can be looked up, renewed
// and revoked. Who may get a certificate for which principal is decided before this (the proofs);
// this decides only what the certificate says.

import { createHash } from 'node:crypto';
import type { ProvingKey } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { parseCsr } from './csr.ts';
import type { CertificateRequest } from './csr.ts';
import { InvalidCertificateRequestError } from './errors.ts';
import { normalizeDnsName } from '../config/own-names.ts';
import { encodeLeafCertificate, leafTemplate } from './issue-certificate.ts';
import type { Issuer, LeafTemplate } from './issue-certificate.ts';
import { checkRequestedNames, dnsLabelOfPrincipal, serviceIdentity } from './service-identity.ts';
import type { IdentityNaming } from './service-identity.ts';
import { x509 } from './x509.ts';

export interface ServiceCertificateRequest {
  /** The CSR as PEM, bare base64 DER (EST) or DER bytes. Or give `csr`, already parsed with parseCsr. */
  csrPem?: string | Uint8Array;
  csr?: CertificateRequest;
  /** The principal the caller proved, `<domain>.<service>`. */
  principal: string;
  /** Defaults to ca.certLifetime; capped at ca.maxCertLifetime and at the issuing CA's notAfter. */
  lifetimeSeconds?: number;
  /** Milliseconds since the epoch. */
  now: number;
  /** Who asked, for the audit trail: the principal itself unless an administrator issued it. */
  actor?: string;
  /** The serial of the certificate this one renews, when it is a renewal: its lineage. */
  renewedFrom?: string;
  /** The registered key that proved the request (key-assertion): removing it revokes the certificate. */
  provedBy?: ProvingKey;
}

export interface IssuedServiceCertificate {
  certificatePem: string;
  /** The issuing CA certificate(s) then the root, PEM. */
  chainPem: string;
  principal: string;
  /** Hex, lower-case, as the certificate carries it. */
  serial: string;
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** Milliseconds since the epoch (backdated a minute from issuance). */
  notBefore: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The CA generation that signed it. */
  caId: string;
}

export interface ServiceCertificateSettings extends IdentityNaming {
  /**
   * Tessera's own host names (its server certificate's DNS names, lower-case). A service whose
   * name is one of them is refused: its serverAuth certificate from the CA clients trust for
   * Tessera would let it answer as Tessera. Config loading keeps them out of ca.dnsSuffix; this
   * holds the line for the ones it cannot see then (the machine's host name).
   */
  reservedDnsNames?: readonly string[];
  /** Seconds. */
  certLifetime: number;
  /** Seconds. */
  maxCertLifetime: number;
}

/** The CA generation that signs: its record id, key and chain. */
export interface SigningGeneration {
  id: string;
  issuer: Issuer;
  chainPem: string;
}

export interface ServiceCertificateIssuer {
  issue(generation: SigningGeneration, request: ServiceCertificateRequest): Promise<IssuedServiceCertificate>;
}

/**
 * One per CertificateAuthority: it owns the two things worth keeping between requests — the
 * encoded parts every certificate of a generation shares, and the records waiting for the
 * next group commit — so nothing lives at module level.
 */
export function createServiceCertificateIssuer(settings: ServiceCertificateSettings, store: CertificateStore): ServiceCertificateIssuer {
  // Normalised as the names it is compared with are: a trailing-dot spelling reserves the same host.
  const reserved = new Set((settings.reservedDnsNames ?? []).map(normalizeDnsName));
  // Keyed weakly by issuing key: a generation rotated away takes its template with it.
  const templates = new WeakMap<Issuer, Promise<LeafTemplate>>();
  const templateFor = (issuer: Issuer): Promise<LeafTemplate> => {
    let template = templates.get(issuer);
    if (template === undefined) {
      template = leafTemplate(issuer, SERVICE_EKUS);
      templates.set(issuer, template);
    }
    return template;
  };

  // Group commit: a commit is a synced write, by far the slowest step of issuing, so
  // certificates issued in the same turn of the event loop share one transaction.
  let pending: PendingRecord[] | undefined;
  const record = (certificate: NewCertificate, by: Actor): Promise<void> => {
    if (store.recordCertificates === undefined) return store.recordCertificate(certificate, by);
    return new Promise((resolve, reject) => {
      if (pending === undefined) {
        const batch: PendingRecord[] = [];
        pending = batch;
        setImmediate(() => {
          pending = undefined;
          void flush(store, batch);
        });
      }
      pending.push({ certificate, by, resolve, reject });
    });
  };

  return {
    async issue(generation, request) {
      const label = dnsLabelOfPrincipal(request.principal);
      const holder = label === null ? null : await store.dnsLabelHolder(label);
      const identity = serviceIdentity(request.principal, settings, holder);
      if (identity.dnsName !== null && reserved.has(identity.dnsName)) {
        throw new InvalidCertificateRequestError(
          `${identity.principal} cannot get a certificate: its DNS name ${identity.dnsName} is one of Tessera's own host names, and a ` +
            'certificate for it would let the service answer as Tessera to every client that trusts its CA; rename the service or ' +
            "its domain, or set ca.dnsSuffix to a zone none of Tessera's names are in",
        );
      }
      const csr = request.csr ?? parseCsr(requireCsr(request.csrPem));
      checkRequestedNames(csr.requestedNames, identity);

      const lifetimeSeconds = Math.min(request.lifetimeSeconds ?? settings.certLifetime, settings.maxCertLifetime);
      const certificate = encodeLeafCertificate(await templateFor(generation.issuer), csr.subjectPublicKeyInfo, {
        commonName: identity.commonName,
        uris: [identity.spiffeId],
        dnsNames: identity.dnsName === null ? [] : [identity.dnsName],
        extendedKeyUsages: SERVICE_EKUS,
        lifetimeSeconds,
        now: request.now,
      });

      const issued: IssuedServiceCertificate = {
        certificatePem: `${x509.PemConverter.encode(certificate.der, 'CERTIFICATE')}\n`,
        chainPem: generation.chainPem,
        principal: identity.principal,
        serial: certificate.serial,
        thumbprint: createHash('sha256').update(certificate.der).digest('base64url'),
        notBefore: certificate.notBefore.getTime(),
        expiresAt: certificate.notAfter.getTime(),
        caId: generation.id,
      };
      // Recorded before it is handed out: a certificate the store does not know could be neither
      // renewed nor revoked, so a failed write means no certificate.
      await record(
        {
          serial: issued.serial,
          principal: issued.principal,
          thumbprint: issued.thumbprint,
          caId: issued.caId,
          notBefore: issued.notBefore,
          notAfter: issued.expiresAt,
          issuedAt: request.now,
          renewedFrom: request.renewedFrom ?? null,
          provedBy: request.provedBy ?? null,
        },
        { actor: request.actor ?? identity.principal },
      );
      return issued;
    },
  };
}

const SERVICE_EKUS = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

/** recordCertificates is optional so that stores written before it (and test doubles) still work, one commit each. */
export type CertificateStore = Pick<Store, 'recordCertificate' | 'dnsLabelHolder'> & Partial<Pick<Store, 'recordCertificates'>>;
type NewCertificate = Parameters<Store['recordCertificate']>[0];
type Actor = Parameters<Store['recordCertificate']>[1];

interface PendingRecord {
  certificate: NewCertificate;
  by: Actor;
  resolve: () => void;
  reject: (error: unknown) => void;
}

async function flush(store: CertificateStore, batch: readonly PendingRecord[]): Promise<void> {
  try {
    await store.recordCertificates!(batch.map(({ certificate, by }) => ({ certificate, by })));
    for (const entry of batch) entry.resolve();
  } catch (error) {
    if (batch.length === 1) {
      batch[0]!.reject(error);
      return;
    }
    // One bad record must not cost the others their certificates: each is retried on its own
    // and gets its own outcome.
    await Promise.all(
      batch.map(async (entry) => {
        try {
          await store.recordCertificate(entry.certificate, entry.by);
          entry.resolve();
        } catch (single) {
          entry.reject(single);
        }
      }),
    );
  }
}

function requireCsr(csrPem: string | Uint8Array | undefined): string | Uint8Array {
  if (csrPem === undefined) throw new InvalidCertificateRequestError('a certificate request needs a CSR (PKCS#10, PEM)');
  return csrPem;
}

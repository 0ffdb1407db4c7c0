// The certificate revocation list (RFC 5280 §5) of the issuing CA: every revoked certificate
// that has not yet expired. It is made fresh for each request from the store, so a revocation
// shows at once; `nextUpdate` tells relying parties how long they may keep a copy. RFC 5280
// §5.1.2 and §5.2 require of a conforming issuer: nextUpdate, the authority key identifier and
// a CRL number that never goes backwards — here the second of `thisUpdate`, which every
// instance sharing the database agrees on as far as their clocks do.

import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import type { Sealer } from '../../keys/master-key.ts';
import type { CertificateRecord } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import { InvalidCaRecordError } from '../errors.ts';
import { openGeneration } from '../generation.ts';
import { webcrypto, wholeSeconds, x509 } from '../x509.ts';
import type { CryptoKey, SigningKeyMaterial } from '../x509.ts';

export const CRL_MEDIA_TYPE = 'application/pkix-crl';
/** How long a fetched CRL may be relied on before fetching again. */
export const CRL_VALIDITY_SECONDS = 3600;

export interface CrlIssuer {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  /** Defaults to what the key's type implies (ECDSA with SHA-256 for P-256). */
  signingAlgorithm?: SigningKeyMaterial['signingAlgorithm'];
}

export interface CrlIssuerDeps {
  /** The CA: its `id` names the generation that signs now. */
  ca: { readonly id: string };
  store: Pick<Store, 'listCas'>;
  sealer: Sealer;
  trustDomain: string;
}

/**
 * The issuing generation's certificate and key, opened from the store once per generation.
 * The CRL must be signed by the CA that signed the certificates it lists, which is the
 * generation `ca.id` names; after a rotation the next call opens the new one.
 */
export function crlIssuerOf(deps: CrlIssuerDeps): () => Promise<CrlIssuer> {
  let opened: { id: string; issuer: Promise<CrlIssuer> } | null = null;
  return () => {
    const id = deps.ca.id;
    if (opened?.id !== id) {
      const issuer = openIssuer(deps, id);
      opened = { id, issuer };
      // A failed open is retried on the next request instead of being remembered.
      issuer.catch(() => {
        if (opened?.issuer === issuer) opened = null;
      });
    }
    return opened.issuer;
  };
}

async function openIssuer(deps: CrlIssuerDeps, id: string): Promise<CrlIssuer> {
  const record = (await deps.store.listCas()).find((candidate) => candidate.id === id);
  if (record === undefined) throw new InvalidCaRecordError(`CA ${id} signs, but the store does not hold it`);
  const generation = await openGeneration(record, deps.sealer, deps.trustDomain);
  if (generation.issuer === null) throw new InvalidCaRecordError(`CA ${id} is old: it no longer signs`);
  return generation.issuer;
}

const REASONS: Record<string, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  cACompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  certificateHold: x509.X509CrlReason.certificateHold,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
};

/** The DER CRL listing `revoked`, signed by `issuer`. */
export async function buildCrl(issuer: CrlIssuer, revoked: readonly CertificateRecord[], now: number): Promise<Buffer> {
  const thisUpdate = wholeSeconds(now);
  const ski = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const authorityKeyId = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false)
    : await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey, false, webcrypto);
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: issuer.certificate.subjectName,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + CRL_VALIDITY_SECONDS * 1000),
      signingAlgorithm: issuer.signingAlgorithm ?? signingAlgorithmOf(issuer.privateKey),
      signingKey: issuer.privateKey,
      extensions: [authorityKeyId, new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(Math.floor(thisUpdate.getTime() / 1000))))],
      entries: revoked.map((record) => ({
        serialNumber: record.serial,
        revocationDate: wholeSeconds(record.revokedAt ?? now),
        // RFC 5280 §5.3.1: the reason code is left out rather than sent as unspecified.
        ...(record.revocationReason && record.revocationReason !== 'unspecified' && REASONS[record.revocationReason] !== undefined
          ? { reason: REASONS[record.revocationReason] }
          : {}),
      })),
    },
    webcrypto,
  );
  return Buffer.from(crl.rawData);
}

function signingAlgorithmOf(key: CryptoKey): webcrypto.EcdsaParams | webcrypto.Algorithm {
  const algorithm = key.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name === 'ECDSA') return { name: 'ECDSA', hash: algorithm.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' } as webcrypto.EcdsaParams;
  if (algorithm.name === 'Ed25519') return { name: 'Ed25519' };
  return { name: algorithm.name, hash: 'SHA-256' } as webcrypto.Algorithm;
}

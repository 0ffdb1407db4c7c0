// The proofs a certificate request may use, one module each behind one interface (proof.ts).
// Adding a way to prove an identity adds a module and a line here; the endpoints do not change.

import type { OidcProofIssuer } from '../../config/config.ts';
import type { SecretHasher } from '../../keys/client-secrets.ts';
import type { Store } from '../../storage/store.ts';
import { joinTokenProof } from './join-token.ts';
import { keyAssertionProof } from './key-assertion.ts';
import { oidcTokenProof } from './oidc-token.ts';
import type { CertificateProof, ProofType } from './proof.ts';
import { renewalProof } from './renewal.ts';

export { ProofError, REQUEST_PROOF_TYPES } from './proof.ts';
export type { CertificateProof, PeerCertificate, ProofInput, ProofType } from './proof.ts';

export interface CertificateProofDeps {
  store: Pick<Store, 'getService' | 'listPublicKeys' | 'consumeAssertionJti' | 'consumeJoinToken' | 'getCertificate'>;
  hasher: SecretHasher;
  /** `<issuer>/ca/v1/certificates`: the audience of key assertions. */
  certificatesUrl: string;
  trustDomain: string;
  oidcIssuers: readonly OidcProofIssuer[];
  clockSkew: number;
}

export type CertificateProofs = ReadonlyMap<ProofType, CertificateProof>;

export function createCertificateProofs(deps: CertificateProofDeps): CertificateProofs {
  const proofs = [
    keyAssertionProof({ store: deps.store, audience: deps.certificatesUrl, clockSkew: deps.clockSkew }),
    joinTokenProof({ store: deps.store, hasher: deps.hasher }),
    oidcTokenProof({ store: deps.store, issuers: deps.oidcIssuers, clockSkew: deps.clockSkew }),
    renewalProof({ store: deps.store, trustDomain: deps.trustDomain }),
  ];
  return new Map(proofs.map((proof) => [proof.type, proof]));
}

// PKCS#10 certificate signing requests (RFC 2986), built with node:crypto and the DER encoder:
//
//   CertificationRequest ::= SEQUENCE {
//     certificationRequestInfo  SEQUENCE {
//       version        INTEGER 0,
//       subject        Name                      -- CN=<principal>, nothing else
//       subjectPKInfo  SubjectPublicKeyInfo      -- node:crypto's SPKI export, byte for byte
//       attributes     [0] IMPLICIT SET OF {} }  -- empty: no extensions are requested
//     signatureAlgorithm  AlgorithmIdentifier,
//     signature           BIT STRING }          -- over the DER of certificationRequestInfo
//
// No subjectAltName is requested: Tessera's CA derives every name (SPIFFE URI, DNS) from the
// proven identity and refuses a CSR that asks for others (docs/certificates.md), so the CN alone says who
// the request is for.

import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { bitString, contextSpecific, integer, nullValue, oid, pem, sequence, set, utf8String } from './der.ts';
import { keyTypeOf, type KeyType } from './keys.ts';

const COMMON_NAME = '2.5.4.3';

/** How each key type signs, and the AlgorithmIdentifier that says so. */
const SIGNATURE: Record<KeyType, { hash: string | null; algorithm: Buffer }> = {
  // RFC 5758 §3.2: ECDSA identifiers carry no parameters.
  p256: { hash: 'sha256', algorithm: sequence(oid('1.2.840.10045.4.3.2')) },
  p384: { hash: 'sha384', algorithm: sequence(oid('1.2.840.10045.4.3.3')) },
  // RFC 8410 §3: Ed25519 has no parameters and hashes internally.
  ed25519: { hash: null, algorithm: sequence(oid('1.3.101.112')) },
  // RFC 4055 §5: sha256WithRSAEncryption with NULL parameters.
  rsa2048: { hash: 'sha256', algorithm: sequence(oid('1.2.840.113549.1.1.11'), nullValue()) },
};

/** A PEM CSR for `key` with subject `CN=<commonName>`, signed by `key`. */
export function buildCsr(key: KeyObject, commonName: string): string {
  const type = keyTypeOf(key);
  if (type === undefined || key.type !== 'private') {
    throw new TypeError('a CSR needs a P-256, P-384, Ed25519 or RSA (2048 bits or more) private key');
  }
  const subject = sequence(set(sequence(oid(COMMON_NAME), utf8String(commonName))));
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = sequence(integer(0), subject, spki, contextSpecific(0, Buffer.alloc(0)));
  const { hash, algorithm } = SIGNATURE[type];
  // ECDSA signatures come out as the DER Ecdsa-Sig-Value X.509 expects (dsaEncoding 'der').
  const signature = sign(hash, info, { key, dsaEncoding: 'der' });
  return pem('CERTIFICATE REQUEST', sequence(info, algorithm, bitString(signature)));
}

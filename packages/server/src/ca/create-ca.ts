// Creates one CA generation: a self-signed root and the intermediate that issues every
// certificate, both ECDSA P-256.
//
// The root's private key is generated non-extractable and dropped once it has signed the
// intermediate: it is never sealed, stored or written anywhere, so the root is offline by
// construction and a stolen database plus master key yields at most the intermediate key. The
// price is that the root can never sign a second intermediate; CA rotation therefore creates a
// whole new root+intermediate pair (a `prepared` record whose root joins the trust bundle
// before it becomes `active`, as SPIRE does), and the intermediate's lifetime is the useful life
// of the generation.

import { randomUUID } from 'node:crypto';
import type { CaRecord } from '../storage/records.ts';
import { BACKDATE_SECONDS } from './issue-certificate.ts';
import { trustDomainId } from './names.ts';
import { generateP256KeyPair, randomSerialNumber, toPem, webcrypto, wholeSeconds, x509 } from './x509.ts';

export const ROOT_LIFETIME_SECONDS = 10 * 365 * 86_400;
export const INTERMEDIATE_LIFETIME_SECONDS = 5 * 365 * 86_400;

export const ROOT_SUBJECT: x509.JsonName = [{ O: ['Tessera'] }, { CN: ['Tessera Root CA'] }];
export const INTERMEDIATE_SUBJECT: x509.JsonName = [{ O: ['Tessera'] }, { CN: ['Tessera Intermediate CA'] }];

export interface CreateCaOptions {
  /** Milliseconds since the epoch. */
  now: number;
  /** SPIFFE trust domain, e.g. `tessera.local`; carried as a URI SAN on both CA certificates. */
  trustDomain: string;
}

export interface NewCa {
  /** Everything of the CaRecord except what the caller decides: the sealed key and the state. */
  record: Omit<CaRecord, 'sealedPrivateKey' | 'state'>;
  /** The intermediate's private key as PKCS#8 DER, to be sealed bound to `record.id`. */
  issuingKeyPkcs8: Uint8Array;
}

export async function createCa({ now, trustDomain }: CreateCaOptions): Promise<NewCa> {
  // SPIFFE X.509-SVID §5: a signing certificate may carry the trust domain's SPIFFE ID, which
  // lets a verifier tell which trust domain a bundle's root belongs to.
  const trustDomainSan = new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }], false);
  const notBefore = wholeSeconds(now - BACKDATE_SECONDS * 1000);
  const caKeyUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

  const rootKeys = await generateP256KeyPair(false);
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name: ROOT_SUBJECT,
      notBefore,
      notAfter: wholeSeconds(now + ROOT_LIFETIME_SECONDS * 1000),
      keys: rootKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(caKeyUsage, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, webcrypto),
        trustDomainSan,
      ],
    },
    webcrypto,
  );

  const issuingKeys = await generateP256KeyPair(true);
  const rootSki = root.getExtension(x509.SubjectKeyIdentifierExtension);
  if (rootSki === null) throw new Error('unreachable: the root was just created with an SKI');
  const intermediate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: INTERMEDIATE_SUBJECT,
      issuer: root.subjectName,
      notBefore,
      notAfter: wholeSeconds(now + INTERMEDIATE_LIFETIME_SECONDS * 1000),
      publicKey: issuingKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        // pathLen 0: the intermediate issues end-entity certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(caKeyUsage, true),
        await x509.SubjectKeyIdentifierExtension.create(issuingKeys.publicKey, false, webcrypto),
        new x509.AuthorityKeyIdentifierExtension(rootSki.keyId, false),
        trustDomainSan,
      ],
    },
    webcrypto,
  );

  const rootPem = toPem(root);
  const issuingKeyPkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', issuingKeys.privateKey));
  return {
    record: {
      id: `ca_${randomUUID()}`,
      chainPem: toPem(intermediate) + rootPem,
      rootPem,
      createdAt: now,
    },
    issuingKeyPkcs8,
  };
}

// The "certs-only" PKCS#7 / CMS message (RFC 7030 §4.1.3 and §4.2.3, RFC 5652 §5): a SignedData
// with no content and no signers whose only job is to carry certificates. EST answers
// /cacerts, /simpleenroll and /simplereenroll with it, base64-encoded.

import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { CertificateChoices, CertificateSet, CMSVersion, ContentInfo, EncapsulatedContentInfo, SignedData, id_data, id_signedData } from '@peculiar/asn1-cms';
import { x509 } from '../x509.ts';

export const PKCS7_MIME = 'application/pkcs7-mime; smime-type=certs-only';

/** DER of a degenerate SignedData holding `certificatesPem` (one or more PEM certificates), in order. */
export function certsOnlyPkcs7(certificatesPem: readonly string[]): Buffer {
  const certificates = certificatesPem
    .flatMap((pem) => x509.PemConverter.decode(pem))
    .map((der) => new CertificateChoices({ certificate: AsnConvert.parse(der, Certificate) }));
  const signedData = new SignedData({
    // RFC 5652 §5.1: v1 when there are no attribute certificates, other certificate formats or signers.
    version: CMSVersion.v1,
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certificates),
  });
  const contentInfo = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signedData) });
  return Buffer.from(AsnConvert.serialize(contentInfo));
}

/** RFC 7030 §4.1.3: base64 with line breaks, as a Content-Transfer-Encoding: base64 body. */
export function base64Body(der: Buffer): string {
  return `${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n`;
}

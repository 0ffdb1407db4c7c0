// Tessera's own CA generations as trust anchors: each generation's issuing certificate, prepared,
// active and old alike, and never its root. A certificate issued by the previous generation thus
// keeps authenticating until it expires, also when its holder sends it without its chain (curl
// --cert with the leaf alone); a certificate that some other CA under the same root signed (the
// root of an imported CA is the operator's) does not chain to Tessera at all. Reloaded from the
// store after a CA refresh that saw a generation come or go. The SDK anchors its services'
// mTLS on the same issuing certificates (packages/sdk/src/http/anchors.ts).

import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from '../ca/index.ts';
import type { CaRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';

export interface TesseraCa {
  caId: string;
  /** The generation's issuing certificate: the one that signs Tessera's certificates. */
  certificate: X509Certificate;
}

/** A getter for ClientCertificatesDeps.tesseraCas: the same array until a generation comes or goes. */
export async function tesseraCaSource(
  ca: Pick<CertificateAuthority, 'onRefresh' | 'generations'>,
  store: Pick<Store, 'listCas'>,
): Promise<() => readonly TesseraCa[]> {
  const load = async (): Promise<readonly TesseraCa[]> => (await store.listCas()).map(issuingCa);
  let cas = await load();
  ca.onRefresh(async () => {
    const ids = new Set(ca.generations().map((generation) => generation.id));
    if (ids.size !== cas.length || cas.some((known) => !ids.has(known.caId))) cas = await load();
  });
  return () => cas;
}

/** chainPem holds the issuing certificate first (CaRecord). */
function issuingCa(record: Pick<CaRecord, 'id' | 'chainPem'>): TesseraCa {
  const end = record.chainPem.indexOf(PEM_END) + PEM_END.length;
  return { caId: record.id, certificate: new X509Certificate(record.chainPem.slice(0, end)) };
}

const PEM_END = '-----END CERTIFICATE-----';

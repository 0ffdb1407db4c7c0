// Tessera's own CA certificates as trust anchors: every generation's chain (issuing certificate
// and root), prepared, active and old alike. A certificate issued by the previous generation
// thus keeps authenticating until it expires, also when its holder sends it without its chain
// (curl --cert with the leaf alone). Reloaded from the store whenever the CA's trust bundle
// changes, which is when a generation is prepared or removed.

import type { CertificateAuthority } from '../ca/index.ts';
import type { Store } from '../storage/store.ts';

/** A getter for ClientCertificatesDeps.tesseraCas. */
export async function tesseraCaSource(ca: Pick<CertificateAuthority, 'onBundleChange'>, store: Pick<Store, 'listCas'>): Promise<() => string> {
  const load = async (): Promise<string> => [...new Set((await store.listCas()).flatMap((record) => [record.chainPem, record.rootPem]))].join('\n');
  let pem = await load();
  ca.onBundleChange(async () => {
    pem = await load();
  });
  return () => pem;
}

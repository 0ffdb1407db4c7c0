// One CA generation opened from its stored record: the parsed chain and, for generations that
// may sign (prepared and active), the issuing key unsealed and checked against the certificate.

import { createPrivateKey, createPublicKey } from 'node:crypto';
import { MasterKeyMismatchError } from '../keys/master-key.ts';
import type { Sealer } from '../keys/master-key.ts';
import type { CaRecord } from '../storage/records.ts';
import { InvalidCaRecordError } from './errors.ts';
import type { Issuer } from './issue-certificate.ts';
import { trustDomainId } from './names.ts';
import { CA_KEY_TYPES, certificatesFromPem, importSigningKey, x509 } from './x509.ts';

export interface Generation {
  readonly id: string;
  readonly state: CaRecord['state'];
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /** The issuing certificate first, the root last. */
  readonly chain: readonly x509.X509Certificate[];
  readonly chainPem: string;
  readonly rootPem: string;
  /** The issuing certificate's notAfter (ms): nothing this generation signs outlives it. */
  readonly notAfter: number;
  /** Null for an `old` generation: it never signs again, so its key stays sealed. */
  readonly issuer: Issuer | null;
}

export async function openGeneration(record: CaRecord, sealer: Sealer, trustDomain: string): Promise<Generation> {
  const chain = parseChain(record);
  const [issuing] = chain;
  if (issuing === undefined) throw new InvalidCaRecordError(`CA ${record.id}: its chain holds no certificate`);
  let issuer: Issuer | null = null;
  if (record.state !== 'old') {
    checkTrustDomain(record.id, issuing, trustDomain);
    issuer = { certificate: issuing, ...(await openIssuingKey(record, sealer, issuing)) };
  }
  return {
    id: record.id,
    state: record.state,
    createdAt: record.createdAt,
    chain,
    chainPem: record.chainPem,
    rootPem: record.rootPem,
    notAfter: issuing.notAfter.getTime(),
    issuer,
  };
}

function parseChain(record: CaRecord): x509.X509Certificate[] {
  try {
    return certificatesFromPem(record.chainPem);
  } catch (cause) {
    throw new InvalidCaRecordError(`CA ${record.id}: its certificate chain does not parse`, { cause });
  }
}

async function openIssuingKey(record: CaRecord, sealer: Sealer, issuing: x509.X509Certificate): Promise<Omit<Issuer, 'certificate'>> {
  let pkcs8: Buffer;
  try {
    pkcs8 = sealer.open(record.sealedPrivateKey, record.id);
  } catch (cause) {
    if (!(cause instanceof MasterKeyMismatchError)) throw cause;
    throw new MasterKeyMismatchError(
      `cannot open the private key of CA ${record.id}: the master key differs from the one it was sealed with ` +
        '(start with the master key this data directory or database was created with)',
      { cause },
    );
  }
  try {
    // A record whose key and certificate disagree would issue certificates that never verify;
    // refuse it at start rather than at the first handshake.
    const publicKey = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    if (!spki.equals(Buffer.from(issuing.publicKey.rawData))) {
      throw new InvalidCaRecordError(`CA ${record.id}: the sealed private key does not match the issuing certificate`);
    }
    const material = await importSigningKey(pkcs8);
    if (material === null) throw new InvalidCaRecordError(`CA ${record.id}: its key is not one a CA signs with (${CA_KEY_TYPES})`);
    return material;
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Certificates from one CA generation all name the trust domain it was created for. Starting
 * against a database made for another trust domain is a configuration mistake, not something
 * to paper over by issuing SPIFFE IDs the CA's own certificate contradicts.
 */
function checkTrustDomain(id: string, issuing: x509.X509Certificate, trustDomain: string): void {
  const expected = trustDomainId(trustDomain);
  const san = issuing.getExtension(x509.SubjectAlternativeNameExtension);
  const ids = san?.names.items.filter((name) => name.type === 'url' && name.value.startsWith('spiffe://')) ?? [];
  if (ids.length > 0 && !ids.some((name) => name.value === expected)) {
    throw new InvalidCaRecordError(`CA ${id} was created for ${ids.map((name) => name.value).join(', ')}, but the configured trust domain is ${expected}`);
  }
}

// The running CA: the active CA generation from storage with its issuing key opened. Built once
// by the server's composition function; holds no state beyond what it was opened with.

import { createPrivateKey, createPublicKey } from 'node:crypto';
import { MasterKeyMismatchError } from '../keys/master-key.ts';
import type { Sealer } from '../keys/master-key.ts';
import type { CaRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { createCa } from './create-ca.ts';
import type { CreateCaOptions } from './create-ca.ts';
import { InvalidCaRecordError, InvalidCertificateRequestError } from './errors.ts';
import { issueLeafCertificate } from './issue-certificate.ts';
import type { Issuer } from './issue-certificate.ts';
import { canonicalDnsName, canonicalIpAddress, trustDomainId } from './names.ts';
import { certificatesFromPem, exportPkcs8Pem, generateP256KeyPair, importP256PrivateKey, toPem, x509 } from './x509.ts';
import type { CryptoKey } from './x509.ts';

/** The part of the Store the CA needs; tests hand in a small in-memory object. */
export type CaStore = Pick<Store, 'getActiveCa' | 'initCa'>;

export interface ServerCertificateRequest {
  /** Host names; the first one becomes the subject CN. */
  dnsNames: string[];
  /** IPv4 and IPv6 addresses, e.g. `127.0.0.1`, `::1`. */
  ipAddresses: string[];
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM of the key made for this certificate alone. */
  keyPem: string;
  /** The intermediate then the root (SPEC §5). A TLS server presents `certPem + chainPem`; the root on the wire is redundant but harmless. */
  chainPem: string;
  /** Milliseconds since the epoch. */
  notAfter: number;
}

export interface CertificateAuthority {
  /** The CaRecord id of the generation in use. */
  readonly id: string;
  readonly trustDomain: string;
  /** The root(s) clients trust: what `<dataDir>/ca.pem` and `GET /ca/v1/bundle` hold. */
  readonly bundlePem: string;
  /** The issuing intermediate then the root. */
  readonly chainPem: string;
  issueServerCertificate(request: ServerCertificateRequest): Promise<IssuedCertificate>;
}

/**
 * First start: creates a CA generation, seals its key and stores it. Several instances sharing
 * one database may race here; `initCa` keeps the first writer's CA and every instance uses
 * that one. Later starts open the stored CA.
 */
export async function loadOrCreateCa(store: CaStore, sealer: Sealer, options: CreateCaOptions): Promise<CertificateAuthority> {
  let record = await store.getActiveCa();
  if (record === null) {
    const created = await createCa(options);
    const sealedPrivateKey = sealer.seal(created.issuingKeyPkcs8, created.record.id);
    created.issuingKeyPkcs8.fill(0);
    record = await store.initCa({ ...created.record, state: 'active', sealedPrivateKey });
  }
  // Always opened from the stored record, including right after creating it: the path every
  // later start takes is the one exercised on the first.
  return openCa(record, sealer, options.trustDomain);
}

export async function openCa(record: CaRecord, sealer: Sealer, trustDomain: string): Promise<CertificateAuthority> {
  const chain = parseChain(record);
  const [intermediate] = chain;
  if (intermediate === undefined) throw new InvalidCaRecordError(`CA ${record.id}: its chain holds no certificate`);
  checkTrustDomain(record.id, intermediate, trustDomain);
  const issuer: Issuer = { certificate: intermediate, privateKey: await openIssuingKey(record, sealer, intermediate) };

  return {
    id: record.id,
    trustDomain,
    bundlePem: record.rootPem,
    chainPem: record.chainPem,
    async issueServerCertificate(request) {
      const dnsNames = unique(request.dnsNames.map(canonicalDnsName));
      const ipAddresses = unique(request.ipAddresses.map(canonicalIpAddress));
      const commonName = dnsNames[0] ?? ipAddresses[0];
      if (commonName === undefined) {
        throw new InvalidCertificateRequestError('a server certificate needs at least one DNS name or IP address');
      }
      const keys = await generateP256KeyPair(true);
      const certificate = await issueLeafCertificate(issuer, keys.publicKey, {
        commonName,
        dnsNames,
        ipAddresses,
        extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth],
        lifetimeSeconds: request.lifetimeSeconds,
        now: request.now,
      });
      return {
        certPem: toPem(certificate),
        keyPem: await exportPkcs8Pem(keys.privateKey),
        chainPem: record.chainPem,
        notAfter: certificate.notAfter.getTime(),
      };
    },
  };
}

function parseChain(record: CaRecord): x509.X509Certificate[] {
  try {
    return certificatesFromPem(record.chainPem);
  } catch (cause) {
    throw new InvalidCaRecordError(`CA ${record.id}: its certificate chain does not parse`, { cause });
  }
}

async function openIssuingKey(record: CaRecord, sealer: Sealer, intermediate: x509.X509Certificate): Promise<CryptoKey> {
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
    if (!spki.equals(Buffer.from(intermediate.publicKey.rawData))) {
      throw new InvalidCaRecordError(`CA ${record.id}: the sealed private key does not match the issuing certificate`);
    }
    return await importP256PrivateKey(pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Certificates from one CA generation all name the trust domain it was created for. Starting
 * against a database made for another trust domain is a configuration mistake, not something
 * to paper over by issuing SPIFFE IDs the CA's own certificate contradicts.
 */
function checkTrustDomain(id: string, intermediate: x509.X509Certificate, trustDomain: string): void {
  const expected = trustDomainId(trustDomain);
  const san = intermediate.getExtension(x509.SubjectAlternativeNameExtension);
  const ids = san?.names.items.filter((name) => name.type === 'url' && name.value.startsWith('spiffe://')) ?? [];
  if (ids.length > 0 && !ids.some((name) => name.value === expected)) {
    throw new InvalidCaRecordError(
      `CA ${id} was created for ${ids.map((name) => name.value).join(', ')}, but the configured trust domain is ${expected}`,
    );
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

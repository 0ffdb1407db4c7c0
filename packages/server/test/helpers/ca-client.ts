// What a service does to get and use a Tessera certificate, for the CA's end-to-end tests: make
// a key and a CSR (the private key never leaves the "service"), sign a key assertion, call the
// CA with or without a client certificate, and check results with OpenSSL as an outsider would.

import { execFile } from 'node:child_process';
import { randomUUID, webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SignJWT } from 'jose';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';

const run = promisify(execFile);
const { subtle } = webcrypto;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;

export type KeyKind = 'ec' | 'p384' | 'ed25519' | 'rsa';

export interface ServiceKey {
  kind: KeyKind;
  keys: CryptoKeyPair;
  /** SPKI PEM: what the admin API registers. */
  publicPem: string;
  /** PKCS#8 PEM: what the service keeps (and presents over mTLS). */
  privatePem: string;
  /** JWS alg the key signs with. */
  alg: string;
}

const PARAMS: Record<KeyKind, { generate: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm; sign: Algorithm | EcdsaParams; alg: string }> = {
  ec: { generate: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams, alg: 'ES256' },
  p384: { generate: { name: 'ECDSA', namedCurve: 'P-384' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams, alg: 'ES384' },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' }, alg: 'EdDSA' },
  rsa: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as RsaHashedKeyGenParams,
    sign: { name: 'RSASSA-PKCS1-v1_5' },
    alg: 'RS256',
  },
};

export async function serviceKey(kind: KeyKind = 'ec'): Promise<ServiceKey> {
  const keys = (await subtle.generateKey(PARAMS[kind].generate, true, ['sign', 'verify'])) as CryptoKeyPair;
  const publicPem = x509.PemConverter.encode(await subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY');
  const privatePem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { kind, keys, publicPem, privatePem, alg: PARAMS[kind].alg };
}

export interface CsrOptions {
  /** Subject, e.g. `CN=alpha.api`; none by default (the CA takes names from the proof). */
  subject?: string;
  dnsNames?: string[];
  uris?: string[];
}

/** A PEM CSR signed by `key`. */
export async function csrFor(key: ServiceKey, options: CsrOptions = {}): Promise<string> {
  const names: x509.JsonGeneralNames = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: options.subject ?? '',
      keys: key.keys,
      signingAlgorithm: PARAMS[key.kind].sign,
      extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
    },
    webcrypto,
  );
  return csr.toString('pem');
}

/** A key assertion (zts-svccert style) for POST /ca/v1/certificates, signed by `key`. */
export async function keyAssertion(
  key: ServiceKey,
  principal: string,
  audience: string,
  overrides: { claims?: Record<string, unknown>; lifetime?: number; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: principal, sub: principal, aud: audience, iat: now, exp: now + (overrides.lifetime ?? 60), jti: randomUUID(), ...overrides.claims })
    .setProtectedHeader({ alg: overrides.alg ?? key.alg })
    .sign(key.keys.privateKey);
}

export type MtlsRequest = Omit<TestRequest, 'agent' | 'localAddress'> & { ca: string };

/** An HTTPS request that may present a client certificate (`cert`, `key`), on a connection of its own. */
export function sendMtls(url: string, options: MtlsRequest): Promise<TestResponse> {
  return send(url, { ...options, agent: false });
}

/** Runs a command; resolves to its stdout, rejects with its stderr. */
export async function command(file: string, args: readonly string[], options: { cwd?: string; input?: Buffer } = {}): Promise<string> {
  try {
    const { stdout } = await run(file, [...args], { cwd: options.cwd, maxBuffer: 4 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${failure.stderr ?? ''}${failure.stdout ?? ''}${failure.message}`);
  }
}

/** A scratch directory, removed by the returned function. */
export async function scratchDir(): Promise<{ dir: string; file(name: string, content: string | Buffer): Promise<string>; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-ca-test-'));
  return {
    dir,
    async file(name, content) {
      const path = join(dir, name);
      await writeFile(path, content, { mode: 0o600 });
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `openssl verify -purpose <purpose>` of `leafPem` against the bundle, with `chainPem` as untrusted intermediates. */
export async function opensslVerify(bundlePem: string, chainPem: string, leafPem: string, purpose: 'sslclient' | 'sslserver'): Promise<string> {
  const scratch = await scratchDir();
  try {
    const bundle = await scratch.file('bundle.pem', bundlePem);
    const chain = await scratch.file('chain.pem', chainPem);
    const leaf = await scratch.file('leaf.pem', leafPem);
    return await command('openssl', ['verify', '-purpose', purpose, '-CAfile', bundle, '-untrusted', chain, leaf]);
  } finally {
    await scratch.remove();
  }
}

export function parseCertificate(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}

/** A self-signed certificate for `key` that claims `principal` the way Tessera's do: no CA vouches for it. */
export async function selfSignedCertificate(key: ServiceKey, principal: string, trustDomain = 'tessera.local'): Promise<string> {
  const [domain, service] = [principal.slice(0, principal.lastIndexOf('.')), principal.slice(principal.lastIndexOf('.') + 1)];
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: `CN=${principal}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
      keys: key.keys,
      signingAlgorithm: PARAMS[key.kind].sign,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}/${domain}/${service}` }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    },
    webcrypto,
  );
  return certificate.toString('pem');
}

/** Another organisation's CA (ECDSA P-256) and a client certificate from it claiming `principal`. */
export async function externalCaWithLeaf(leafKey: ServiceKey, principal: string, trustDomain = 'tessera.local'): Promise<{ caPem: string; leafPem: string }> {
  const caKey = await serviceKey('ec');
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '0a',
      name: 'CN=Elsewhere CA',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      keys: caKey.keys,
      signingAlgorithm: PARAMS.ec.sign,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKey.keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const [domain, service] = [principal.slice(0, principal.lastIndexOf('.')), principal.slice(principal.lastIndexOf('.') + 1)];
  const leaf = await x509.X509CertificateGenerator.create(
    {
      // The serial a Tessera certificate might have: only the thumbprint tells them apart.
      serialNumber: '4abcdef0123456789abcdef012345678',
      subject: `CN=${principal}`,
      issuer: ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
      publicKey: leafKey.keys.publicKey,
      signingKey: caKey.keys.privateKey,
      signingAlgorithm: PARAMS.ec.sign,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}/${domain}/${service}` }]),
        await x509.AuthorityKeyIdentifierExtension.create(caKey.keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { caPem: ca.toString('pem'), leafPem: leaf.toString('pem') };
}

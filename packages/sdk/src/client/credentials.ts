// One prover per kind of credential: what each token request carries to prove the
// client's identity, which principal the cache is for, and (for certificates) the binding that
// keeps tokens of one certificate apart from those of the next.

import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { ACCEPTED_KEYS, assertionAlgorithm, describeKey, keyTypeOf } from '../certificates/keys.ts';
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from './assertion.ts';
import { basicAuthorization } from './basic-auth.ts';
import type { CertificateCredentials, CertificateMaterial, CertificateSource, Credentials, PrivateKeyCredentials, SecretCredentials } from './options.ts';

/** What one attempt of a token request adds to prove who is asking. */
export interface RequestProof {
  headers: Record<string, string>;
  form: Record<string, string>;
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** The current identity of a client: the principal and what its tokens are bound to. */
export interface Identity {
  principal: string;
  /** `x5t#S256` of the certificate for mTLS credentials; empty otherwise. */
  binding: string;
}

/** Proves the client's identity on token requests, for one kind of credential. */
export interface ClientProver {
  readonly usesTls: boolean;
  /** Cheap on repeat calls: the cache consults it on every `getAccessToken`. */
  identity(): Identity;
  /** A fresh proof per attempt (private_key_jwt assertions are single-use). */
  prove(tokenEndpoint: string, nowMs: number): Promise<RequestProof>;
  /** Calls `listener` when a certificate source reports a renewal. Returns a detach function. */
  watch(listener: () => void): () => void;
}

/** The prover for the given credentials; throws a TypeError that says what is wrong with them. */
export function createClientProver(credentials: Credentials): ClientProver {
  if (credentials === null || typeof credentials !== 'object') throw new TypeError('credentials are required: a secret, a private key or a certificate');
  if ('clientSecret' in credentials) return secretProver(credentials);
  if ('privateKey' in credentials) return privateKeyProver(credentials);
  if ('certificate' in credentials) return certificateProver(credentials);
  throw new TypeError('credentials must hold { clientId, clientSecret }, { clientId, privateKey, kid } or { certificate, key }');
}

function requireClientId(clientId: unknown): string {
  if (typeof clientId !== 'string' || clientId === '') throw new TypeError('credentials.clientId must be a non-empty string');
  return clientId;
}

function secretProver(credentials: SecretCredentials): ClientProver {
  const clientId = requireClientId(credentials.clientId);
  if (typeof credentials.clientSecret !== 'string' || credentials.clientSecret === '')
    throw new TypeError('credentials.clientSecret must be a non-empty string');
  const method = credentials.method ?? 'client_secret_basic';
  if (method !== 'client_secret_basic' && method !== 'client_secret_post')
    throw new TypeError(`credentials.method must be client_secret_basic or client_secret_post, not ${String(method)}`);
  const basic = basicAuthorization(clientId, credentials.clientSecret);
  const proof: RequestProof =
    method === 'client_secret_basic'
      ? { headers: { authorization: basic }, form: {} }
      : { headers: {}, form: { client_id: clientId, client_secret: credentials.clientSecret } };
  const identity = { principal: clientId, binding: '' };
  return { usesTls: false, identity: () => identity, prove: async () => proof, watch: () => () => {} };
}

function privateKeyProver(credentials: PrivateKeyCredentials): ClientProver {
  const clientId = requireClientId(credentials.clientId);
  if (typeof credentials.kid !== 'string' || credentials.kid === '') throw new TypeError('credentials.kid must name the registered key (non-empty string)');
  let key: KeyObject;
  try {
    key = typeof credentials.privateKey === 'string' ? createPrivateKey(credentials.privateKey) : credentials.privateKey;
  } catch (cause) {
    throw new TypeError('credentials.privateKey is not a readable PEM private key', { cause });
  }
  if (key?.type !== 'private') throw new TypeError('credentials.privateKey must be a private key (a KeyObject of type "private" or its PEM)');
  const keyAlg = assertionAlgorithmOf(key);
  const alg = credentials.alg ?? keyAlg;
  const identity = { principal: clientId, binding: '' };
  return {
    usesTls: false,
    identity: () => identity,
    async prove(tokenEndpoint, nowMs) {
      const assertion = await signClientAssertion(key, { clientId, kid: credentials.kid, audience: tokenEndpoint, alg, now: nowMs });
      return { headers: {}, form: { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion } };
    },
    watch: () => () => {},
  };
}

/**
 * The assertion's algorithm follows from the key. Only keys Tessera registers are taken: an
 * assertion signed by any other (a P-521 key, say) could never be checked by the server.
 */
function assertionAlgorithmOf(key: KeyObject): string {
  const type = keyTypeOf(key);
  if (type === undefined) {
    throw new TypeError(`credentials.privateKey is ${describeKey(key)}, which Tessera does not register: use ${ACCEPTED_KEYS}`);
  }
  return assertionAlgorithm(type);
}

interface CertificateState extends Identity {
  material: CertificateMaterial;
}

function certificateProver(credentials: CertificateCredentials): ClientProver {
  const source = credentials.certificate;
  if (credentials.clientId !== undefined) requireClientId(credentials.clientId);
  let read: () => CertificateMaterial;
  let events: CertificateSource | undefined;
  if (typeof source === 'string' || Buffer.isBuffer(source)) {
    if (credentials.key === undefined) throw new TypeError('credentials.key is required with a fixed certificate: give the PEM private key');
    const material = { cert: source, key: pemOfKey(credentials.key) };
    read = () => material;
  } else if (typeof source === 'function') {
    read = source;
  } else if (source !== null && typeof source === 'object' && typeof source.current === 'function' && typeof source.on === 'function') {
    events = source;
    read = () => source.current();
  } else {
    throw new TypeError(
      'credentials.certificate must be a PEM string or Buffer, a function returning { cert, key }, or a source with current() and on("renewed")',
    );
  }

  let state: CertificateState | undefined;
  const identity = (): CertificateState => {
    const material = read();
    // Same PEM as last time (compared by value for strings, by identity for Buffers): reuse the thumbprint.
    if (state && state.material.cert === material.cert && state.material.key === material.key) return state;
    state = describeCertificate(material, credentials.clientId);
    return state;
  };
  identity();
  return {
    usesTls: true,
    identity,
    async prove() {
      const { material, principal } = identity();
      return { headers: {}, form: { client_id: principal }, tls: { cert: material.cert, key: material.key } };
    },
    watch(listener) {
      if (!events) return () => {};
      const source = events;
      source.on('renewed', listener);
      return () => {
        if (typeof source.off === 'function') source.off('renewed', listener);
        else source.removeListener?.('renewed', listener);
      };
    },
  };
}

function pemOfKey(key: string | Buffer | KeyObject): string | Buffer {
  if (typeof key === 'string' || Buffer.isBuffer(key)) return key;
  if (key?.type !== 'private') throw new TypeError('credentials.key must be a private key');
  return key.export({ type: 'pkcs8', format: 'pem' });
}

function describeCertificate(material: CertificateMaterial, clientId: string | undefined): CertificateState {
  if (material === null || typeof material !== 'object' || material.cert === undefined || material.key === undefined) {
    throw new TypeError('the certificate source must give { cert, key } as PEM');
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(material.cert);
  } catch (cause) {
    throw new TypeError('the client certificate is not a readable PEM certificate', { cause });
  }
  const cn = /^CN=(.+)$/m.exec(certificate.subject)?.[1];
  const principal = clientId ?? cn;
  if (principal === undefined) throw new TypeError('the client certificate has no subject CN: set credentials.clientId');
  // RFC 8705 §3.1: x5t#S256 is the base64url SHA-256 of the DER certificate.
  const binding = createHash('sha256').update(certificate.raw).digest('base64url');
  return { material, principal, binding };
}

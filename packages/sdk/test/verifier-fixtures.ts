// A stand-in issuer for the verifier and middleware tests: discovery, a JWKS and an
// introspection endpoint on a loopback HTTP server that counts every fetch, an ES256 key to sign
// well-formed access tokens, and the tools to forge bad ones (alg none, HMAC with the public key,
// r = s = 0, foreign keys named by jku/x5u/jwk). The real Tessera interop is verifier-interop.

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { send } from '@tessera/testkit/https';
import { startFakeHttpServer, type FakeAnswer } from '@tessera/testkit/token-server';

export interface SigningKeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(kid = `k-${randomUUID().slice(0, 8)}`, alg = 'ES256'): Promise<SigningKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface TestIssuer {
  url: string;
  key: SigningKeyPair;
  /** Keys published in the JWKS; push to publish more. */
  published: SigningKeyPair[];
  fetches: { discovery: number; jwks: number; attacker: number; introspection: number };
  /** Status the JWKS answers with (200 = the key set). */
  jwksStatus: number;
  /** Cache-Control of the JWKS answer, when set. */
  jwksCacheControl: string | undefined;
  /** Introspection answers, by token; unknown tokens are inactive. */
  introspection: Map<string, Record<string, unknown>>;
  introspectionStatus: number;
  /** The Authorization header of the last introspection request. */
  lastIntrospectionAuth: string | undefined;
  /** Keys an attacker publishes at `${url}/attacker/jwks`, for jku/x5u headers. */
  attacker: SigningKeyPair;
  /** Default claims of a good access token for `beta`, overridden by `claims`. */
  claims(overrides?: Record<string, unknown>): JWTPayload;
  /** A token signed with `key` (default the issuer's) and header `{alg: ES256, kid, typ: at+jwt}` merged with `header`. */
  sign(overrides?: Record<string, unknown>, header?: Record<string, unknown>, key?: SigningKeyPair): Promise<string>;
  close(): Promise<void>;
}

export async function startIssuer(): Promise<TestIssuer> {
  const key = await signingKey();
  const attacker = await signingKey();
  const issuer: TestIssuer = {
    url: '',
    key,
    published: [key],
    attacker,
    fetches: { discovery: 0, jwks: 0, attacker: 0, introspection: 0 },
    jwksStatus: 200,
    jwksCacheControl: undefined,
    introspection: new Map(),
    introspectionStatus: 200,
    lastIntrospectionAuth: undefined,
    claims(overrides = {}) {
      const now = Math.floor(Date.now() / 1000);
      const base: JWTPayload = {
        ver: 1,
        iss: issuer.url,
        aud: 'beta',
        sub: 'alpha.api',
        uid: 'alpha.api',
        client_id: 'alpha.api',
        iat: now,
        nbf: now,
        exp: now + 3600,
        jti: randomUUID(),
        scp: ['readers', 'writers'],
        scope: 'beta:role.readers beta:role.writers',
      };
      for (const [name, value] of Object.entries(overrides)) {
        if (value === undefined) delete base[name];
        else base[name] = value;
      }
      return base;
    },
    async sign(overrides = {}, header = {}, signer = key) {
      return new SignJWT(issuer.claims(overrides)).setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt', ...header }).sign(signer.privateKey);
    },
    close: () => server.close(),
  };

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): FakeAnswer => ({ status, headers, body });
  const server = await startFakeHttpServer((req) => {
    switch (req.url) {
      case '/.well-known/openid-configuration':
        issuer.fetches.discovery++;
        return json(200, { issuer: issuer.url, jwks_uri: `${issuer.url}/jwks`, introspection_endpoint: `${issuer.url}/introspect` });
      case '/jwks':
        issuer.fetches.jwks++;
        if (issuer.jwksStatus !== 200) return json(issuer.jwksStatus, { error: 'down' });
        return json(200, { keys: issuer.published.map((k) => k.jwk) }, issuer.jwksCacheControl ? { 'cache-control': issuer.jwksCacheControl } : {});
      case '/attacker/jwks':
        issuer.fetches.attacker++;
        return json(200, { keys: [attacker.jwk] });
      case '/introspect': {
        issuer.fetches.introspection++;
        issuer.lastIntrospectionAuth = req.headers.authorization;
        if (issuer.introspectionStatus !== 200) return json(issuer.introspectionStatus, { error: 'invalid_client' });
        return json(200, issuer.introspection.get(req.form.get('token') ?? '') ?? { active: false });
      }
      default:
        return json(404, { error: 'not_found' });
    }
  });
  issuer.url = server.url;
  return issuer;
}

export const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');

/** A compact JWS from raw parts, for tokens jose would refuse to produce. */
export function rawToken(header: Record<string, unknown>, claims: Record<string, unknown>, signature: string | Uint8Array = ''): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${typeof signature === 'string' ? signature : b64url(signature)}`;
}

/** HS256 with the issuer's public key (PEM, or JWK JSON) as the HMAC secret: the classic key-confusion forgery. */
export async function hmacWithPublicKey(issuer: TestIssuer, form: 'pem' | 'jwk'): Promise<string> {
  const secret = form === 'pem' ? await exportSPKI(issuer.key.publicKey) : JSON.stringify(issuer.key.jwk);
  const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', kid: issuer.key.kid, typ: 'at+jwt' }))}.${b64url(JSON.stringify(issuer.claims()))}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** A well-formed Tessera API key (tsk_<id>_<secret><CRC-32 base62>). */
export function apiKey(): string {
  const body = `tsk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let value = crc32(body);
  let digits = '';
  for (let i = 0; i < 6; i++) {
    digits = BASE62.charAt(value % 62) + digits;
    value = Math.floor(value / 62);
  }
  return body + digits;
}

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** Self-signed P-256 certificates made with openssl: a server's and two clients'. */
export function selfSignedCertificates(names: readonly string[]): Record<string, TlsMaterial> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sdk-certs-'));
  try {
    const out: Record<string, TlsMaterial> = {};
    for (const name of names) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.pem`);
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          `/CN=${name}`,
          '-addext',
          `subjectAltName=DNS:localhost,IP:127.0.0.1`,
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
      out[name] = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
}

/** A request over HTTP or HTTPS (optionally with a client certificate) on its own connection; `json` is the text when it is not JSON. */
export async function call(url: string, options: { headers?: Record<string, string>; ca?: string; cert?: string; key?: string } = {}): Promise<Answer> {
  const res = await send(url, { ...options, agent: false });
  return { status: res.status, headers: res.headers, json: res.json === undefined ? res.text : res.json };
}

/** The parameters of a `Bearer` challenge. */
export function challenge(header: string | string[] | undefined): Record<string, string> {
  assertString(header);
  const match = /^Bearer (.*)$/.exec(header);
  if (!match?.[1]) throw new Error(`not a Bearer challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const [, name, value] of match[1].matchAll(/([a-z_]+)="([^"]*)"/g)) params[name as string] = value as string;
  return params;
}

function assertString(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new Error(`expected a header value, got ${String(value)}`);
}

// A stand-in for Tessera's token endpoint, for the two requests the gateway makes there: RFC 8693
// token exchange and client_credentials with proxy_for_principal. Written before the server
// answered them; the real server's answers are tested in gateway-real-exchange.test.ts, and the
// tests still on this stand-in are to move to the real endpoint. It checks every parameter exactly as the contract
// says, authenticates the gateway by client_secret_basic, verifies the subject token against the
// real Tessera's JWKS with the SDK, grants only roles the caller holds AND whose `actors` list the
// gateway, and signs real ES256 access tokens with jose, published at /oauth2/keys.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createVerifier, type Verifier } from '@tessera/sdk';

/** `<domain>:role.<role>` → who holds it and who may act for its holders. */
export type Policy = Record<string, { members: string[]; actors: string[] }>;

export interface FakeExchange {
  url: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** Every token request's form, in order. */
  requests: URLSearchParams[];
  policy: Policy;
  /** While set, the token endpoint answers 503 (Tessera down). */
  down: boolean;
  /** While set, changes the claims of the tokens it signs (a misbehaving issuer). */
  tamper: ((claims: Record<string, unknown>) => void) | undefined;
  close(): Promise<void>;
}

export interface FakeExchangeOptions {
  tesseraUrl: string;
  tesseraCa: string;
  gateway: { id: string; secret: string };
  policy: Policy;
  lifetime?: number;
}

export async function startFakeExchange(options: FakeExchangeOptions): Promise<FakeExchange> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = 'fake-exchange-1';
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const verifiers = new Map<string, Verifier>();
  const subjectVerifier = (audience: string): Verifier => {
    let v = verifiers.get(audience);
    if (!v) verifiers.set(audience, (v = createVerifier({ issuer: options.tesseraUrl, audience, ca: options.tesseraCa })));
    return v;
  };
  const state: FakeExchange = { url: '', tokenEndpoint: '', jwksUri: '', requests: [], policy: options.policy, down: false, tamper: undefined,
      close: async () => {} };
  const expected = `Basic ${Buffer.from(`${options.gateway.id}:${options.gateway.secret}`).toString('base64')}`;

  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const token = async (req: IncomingMessage, res: ServerResponse, form: URLSearchParams): Promise<void> => {
    if (state.down) return answer(res, 503, { error: 'temporarily_unavailable', error_description: 'down for the test' });
    if (req.headers['authorization'] !== expected) return answer(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    const grant = form.get('grant_type');
    const scope = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
    if (scope.length === 0) return answer(res, 400, { error: 'invalid_scope', error_description: 'scope is required' });
    const domains = new Set(scope.map((item) => item.split(':')[0]!));
    if (domains.size !== 1) return answer(res, 400, { error: 'invalid_scope', error_description: 'one domain per request in this fake' });
    const audience = [...domains][0]!;
    let subject: string;
    let allowed: Set<string> | undefined;
    if (grant === 'urn:ietf:params:oauth:grant-type:token-exchange') {
      const known = new Set(['grant_type', 'subject_token', 'subject_token_type', 'scope']);
      if ([...form.keys()].some((k) => !known.has(k))) return answer(res, 400, { error: 'invalid_request',
          error_description: `unexpected parameters: ${[...form.keys()].join(',')}` });
      if (form.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:access_token') return answer(res, 400, { error: 'invalid_request',
          error_description: 'subject_token_type' });
      try {
        const context = await subjectVerifier(audience).verify(form.get('subject_token') ?? '');
        subject = context.principal;
        allowed = new Set(context.scope.map(long));
      } catch (error) {
        return answer(res, 400, { error: 'invalid_grant', error_description: `subject_token: ${(error as Error).message}` });
      }
    } else if (grant === 'client_credentials' && form.has('proxy_for_principal')) {
      const known = new Set(['grant_type', 'proxy_for_principal', 'scope']);
      if ([...form.keys()].some((k) => !known.has(k))) return answer(res, 400, { error: 'invalid_request',
          error_description: `unexpected parameters: ${[...form.keys()].join(',')}` });
      subject = form.get('proxy_for_principal')!;
    } else {
      return answer(res, 400, { error: 'unsupported_grant_type',
          error_description: `this fake answers token exchange and proxy_for_principal only, not ${grant}` });
    }
    const granted = scope.map(long).filter((item) => {
      const role = state.policy[item];
      return role && role.members.includes(subject) && role.actors.includes(options.gateway.id) && (!allowed || allowed.has(item));
    });
    if (granted.length === 0) return answer(res, 403, { error: 'access_denied',
        error_description: `${subject} holds none of ${scope.join(' ')} with ${options.gateway.id} among the actors` });
    const lifetime = options.lifetime ?? 300;
    const claims: Record<string, unknown> = {
      ver: 1, iss: state.url, aud: audience, sub: subject, uid: subject, client_id: options.gateway.id, act: { sub: options.gateway.id },
      jti: randomUUID(), scp: granted.map((item) => item.split('role.')[1]), scope: granted.join(' '),
    };
    state.tamper?.(claims);
    const jwt = await sign(privateKey, kid, claims, lifetime);
    answer(res, 200, { access_token: jwt, token_type: 'Bearer', expires_in: lifetime, scope: granted.join(' '),
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/oauth2/keys') return answer(res, 200, { keys: [jwk] });
      if (req.url === '/oauth2/token' && req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        state.requests.push(form);
        token(req, res, form).catch((error: unknown) => answer(res, 500, { error: 'server_error', error_description: String(error) }));
        return;
      }
      answer(res, 404, { error: 'not_found' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.tokenEndpoint = `${state.url}/oauth2/token`;
  state.jwksUri = `${state.url}/oauth2/keys`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

function long(item: string): string {
  return item.replace(/^([^:]+):(?!role\.)/, '$1:role.');
}

async function sign(key: CryptoKey, kid: string, claims: Record<string, unknown>, lifetime: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid,
      typ: 'at+jwt' }).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + lifetime).sign(key);
}

// OpenID Connect sign-in for people in the web console (`console.oidc`, docs/console.md): the
// authorization code flow with PKCE (S256), driven by the page, with no flow state on the server
// (so it works across workers and instances):
//
// - GET /console/oidc/config: what the page needs to send the person to the provider (its
//   authorization_endpoint, the client id, the scopes, the redirect URI `<issuer>/console/`);
//   `{"enabled": false}` when it is off (console/index.ts), not a 404, which the browser would log
//   as an error on every sign-in page of a server without it.
// - The page makes state, nonce and a PKCE verifier, keeps them in sessionStorage, and navigates
//   to the provider; back at /console/?code=…&state=… it checks the state (login CSRF) and POSTs
//   `{code, codeVerifier, nonce, redirectUri}` to POST /console/oidc/session.
// - The server exchanges the code at the provider's token endpoint (with the verifier, and the
//   client secret of a confidential client), verifies the ID token against the provider's JWKS
//   (iss, aud = client id, exp, the nonce the page sent, azp), maps it to a principal
//   (`<principal.domain>.<lower-cased claim>`), and issues a session token (oauth2/tokens.ts,
//   PersonSessionClaims) with the admin roles the principal holds in the registry now and those
//   its groups map to. Audited `console.sign-in`.
//
// The page never calls the provider (the CSP's connect-src stays 'self'); going there is a
// top-level navigation. Every failure answers a JSON `{error, message}` whose message says what to fix.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { adminRoleDomain, type ConsoleOidcConfig } from '../config/console-oidc.ts';
import { MAX_IP_LENGTH, clip } from '../guards/caller-text.ts';
import { TokenBuckets, type BucketLimit } from '../guards/rate-limit.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import { ADMIN_ROLE, describeNameRule, isPrincipalName, isServiceName } from '../policy/names.ts';
import { adminApiAudience, signPersonSession, type PersonSessionClaims, type SigningKey } from '../oauth2/tokens.ts';
import type { Store } from '../storage/store.ts';

export const OIDC_CONFIG_PATH = '/console/oidc/config';
export const OIDC_SESSION_PATH = '/console/oidc/session';
const SYSTEM_DOMAIN = 'sys.auth';
/** How long a provider's discovery document is used before it is fetched again. */
const DISCOVERY_TTL_MS = 3600_000;
const FETCH_TIMEOUT_MS = 10_000;
/** A principal claim's value as the provider sent it: what lower-cases to a service name, and no more. */
const RAW_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

export interface ConsoleOidcDeps {
  config: ConsoleOidcConfig;
  /** Tessera's issuer: the redirect URI is `<issuer>/console/`, the session token's iss. */
  issuer: string;
  store: Pick<Store, 'membershipsOf' | 'getService' | 'appendAudit' | 'bindPerson'>;
  signingKey: () => SigningKey;
  now: () => number;
  clockSkew: number;
  /** Sign-ins per source address (config consoleSignInRateLimit); rate 0 turns the limit off. Named in 429s. */
  signInLimit: BucketLimit;
  /** What this process enforces of it: a worker of a round-robin cluster its share (guards/worker-share.ts); signInLimit otherwise. */
  signInShare?: BucketLimit;
  /** For tests; global fetch otherwise. */
  fetch?: typeof fetch;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  token_endpoint_auth_methods_supported?: string[];
}

/** A refused sign-in: its status, a code, and a sentence saying what to fix. */
export class OidcSignInError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const fail = (status: number, code: string, message: string): OidcSignInError => new OidcSignInError(status, code, message);

/** Reads the client secret file at startup; a file that cannot be read stops the start. */
export function readClientSecret(config: ConsoleOidcConfig): string | null {
  if (config.clientSecretFile === null) return null;
  let text: string;
  try {
    text = readFileSync(config.clientSecretFile, 'utf8');
  } catch (error) {
    throw new Error(`console.oidc.clientSecretFile: cannot read ${config.clientSecretFile}: ${(error as Error).message}`, { cause: error });
  }
  const secret = text.trim();
  if (secret === '') throw new Error(`console.oidc.clientSecretFile: ${config.clientSecretFile} is empty; it should hold the client secret`);
  return secret;
}

const sessionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'codeVerifier', 'nonce', 'redirectUri'],
  properties: {
    code: { type: 'string', minLength: 1, maxLength: 4096 },
    // RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~].
    codeVerifier: { type: 'string', pattern: '^[A-Za-z0-9._~-]{43,128}$' },
    nonce: { type: 'string', minLength: 16, maxLength: 256 },
    redirectUri: { type: 'string', maxLength: 2048 },
  },
} as const;

interface SessionRequest {
  code: string;
  codeVerifier: string;
  nonce: string;
  redirectUri: string;
}

export function consoleOidcRoutes(app: FastifyInstance, deps: ConsoleOidcDeps, clientSecret: string | null): void {
  const { config } = deps;
  const doFetch = deps.fetch ?? fetch;
  const redirectUri = `${deps.issuer}/console/`;
  const provider = createProviderClient(config, doFetch);
  // Before anything else, as the token endpoint's address bucket (guards/rate-limit.ts): each
  // sign-in makes this server call the provider, so a flood from one address is held back here.
  const enforced = deps.signInShare ?? deps.signInLimit;
  const signIns = enforced.rate > 0 ? new TokenBuckets(enforced) : null;
  const limitSignIns = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const key = addressKey(request.ip);
    const waitMs = signIns?.take(key, deps.now()) ?? 0;
    if (waitMs === 0) return;
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    const { rate, burst } = deps.signInLimit;
    const message =
      `too many sign-ins from ${key.includes('/') ? 'addresses in' : 'address'} ${clip(key, MAX_IP_LENGTH)} ` +
      `(at most ${rate} per second, bursts of ${burst}); retry after ${retryAfter} s`;
    await noStore(reply).code(429).header('retry-after', String(retryAfter)).send({ error: 'rate_limited', message });
  };

  app.get(OIDC_CONFIG_PATH, { schema: { hide: true } }, async (_request, reply) => {
    try {
      const discovery = await provider.discovery();
      return noStore(reply).send({
        enabled: true,
        issuer: config.issuer,
        authorizationEndpoint: discovery.authorization_endpoint,
        clientId: config.clientId,
        scopes: config.scopes.join(' '),
        redirectUri,
      });
    } catch (error) {
      return sendError(reply, error);
    }
  });

  app.post<{ Body: SessionRequest }>(
    OIDC_SESSION_PATH,
    {
      schema: { hide: true, body: sessionBody },
      bodyLimit: 16 * 1024,
      onRequest: limitSignIns,
      // A body that does not parse or fit the schema (the handler's own refusals are sent by it).
      errorHandler: (error, request, reply) => {
        const status = (error as { statusCode?: number }).statusCode ?? 500;
        if (status >= 500) {
          request.log.error({ err: error }, 'console sign-in failed');
          void noStore(reply).code(500).send({ error: 'server_error', message: 'internal error; the server log has details' });
          return;
        }
        const message = `the sign-in request is malformed (${error.message}); start the sign-in again from the console`;
        void sendError(reply, fail(400, 'invalid_request', message));
      },
    },
    async (request, reply) => {
      try {
        const body = request.body;
        if (body.redirectUri !== redirectUri) {
          throw fail(400, 'invalid_request', `redirectUri must be ${redirectUri}, where this server serves the console; got ${body.redirectUri.slice(0, 200)}`);
        }
        const idToken = await provider.exchangeCode(body.code, body.codeVerifier, redirectUri, clientSecret);
        const claims = await provider.verifyIdToken(idToken, body.nonce, deps.now(), deps.clockSkew);
        const answer = await startSession(deps, claims);
        return noStore(reply).send(answer);
      } catch (error) {
        return sendError(reply, error);
      }
    },
  );
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof OidcSignInError)) throw error;
  return noStore(reply).code(error.status).send({ error: error.code, message: error.message });
}

/** The provider's discovery, token endpoint and keys, fetched by the server. */
function createProviderClient(config: ConsoleOidcConfig, doFetch: typeof fetch) {
  let cached: { at: number; discovery: Promise<Discovery> } | null = null;
  let keys: { uri: string; set: ReturnType<typeof createRemoteJWKSet> } | null = null;
  const loopbackHttp = config.issuer.startsWith('http:');

  const discovery = (): Promise<Discovery> => {
    if (cached === null || Date.now() - cached.at > DISCOVERY_TTL_MS) {
      const started = { at: Date.now(), discovery: discover(config, doFetch, loopbackHttp) };
      cached = started;
      // A failure is not kept: the next sign-in asks again.
      started.discovery.catch(() => {
        if (cached === started) cached = null;
      });
    }
    return cached.discovery;
  };

  return {
    discovery,

    async exchangeCode(code: string, codeVerifier: string, redirectUri: string, clientSecret: string | null): Promise<string> {
      const { token_endpoint: endpoint, token_endpoint_auth_methods_supported: methods } = await discovery();
      const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      if (clientSecret === null) form.set('client_id', config.clientId);
      else if (methods !== undefined && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')) {
        form.set('client_id', config.clientId);
        form.set('client_secret', clientSecret);
      } else {
        // RFC 6749 §2.3.1: both form-urlencoded before Basic encoding.
        const encode = (value: string): string => encodeURIComponent(value).replaceAll('%20', '+');
        headers['authorization'] = `Basic ${Buffer.from(`${encode(config.clientId)}:${encode(clientSecret)}`).toString('base64')}`;
      }
      const { status, json } = await fetchJson(doFetch, endpoint, { method: 'POST', headers, body: form.toString() }, 'token endpoint');
      if (status !== 200) {
        const error = typeof json['error'] === 'string' ? json['error'] : `status ${status}`;
        const description = typeof json['error_description'] === 'string' ? `: ${json['error_description'].slice(0, 300)}` : '';
        const hint =
          error === 'invalid_client'
            ? 'check console.oidc.clientId and clientSecretFile against the client registered at the provider'
            : 'the code may have expired or been used already; sign in again';
        throw fail(400, 'invalid_grant', `The OpenID provider refused the authorization code (${error}${description}); ${hint}.`);
      }
      const idToken = json['id_token'];
      if (typeof idToken !== 'string') {
        throw fail(400, 'invalid_grant', 'The OpenID provider answered the code without an ID token; check that console.oidc.scopes includes "openid".');
      }
      return idToken;
    },

    async verifyIdToken(idToken: string, nonce: string, now: number, clockSkew: number): Promise<JWTPayload> {
      const { jwks_uri: uri } = await discovery();
      if (keys === null || keys.uri !== uri) {
        keys = { uri, set: createRemoteJWKSet(new URL(uri), { [customFetch]: doFetch, timeoutDuration: FETCH_TIMEOUT_MS }) };
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(idToken, keys.set, {
          issuer: config.issuer,
          audience: config.clientId,
          requiredClaims: ['sub', 'exp', 'iat'],
          currentDate: new Date(now),
          clockTolerance: clockSkew,
        }));
      } catch (error) {
        if (error instanceof joseErrors.JOSEError && !(error instanceof joseErrors.JWKSTimeout)) {
          throw fail(
            401,
            'invalid_id_token',
            `The ID token from the OpenID provider is not valid (${error.message}); sign in again, and check console.oidc.issuer and clientId.`,
          );
        }
        throw fail(502, 'idp_unreachable', `The OpenID provider's keys could not be fetched (${(error as Error).message}); try again later.`);
      }
      if (payload['nonce'] !== nonce) {
        throw fail(401, 'invalid_id_token', 'The ID token was not issued for this sign-in (its nonce differs); start the sign-in again from the console.');
      }
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      const azp = payload['azp'];
      if ((azp !== undefined && azp !== config.clientId) || (aud.length > 1 && azp === undefined)) {
        throw fail(401, 'invalid_id_token', `The ID token was issued to another client (azp ${String(azp)}); check console.oidc.clientId.`);
      }
      return payload;
    },
  };
}

async function discover(config: ConsoleOidcConfig, doFetch: typeof fetch, loopbackHttp: boolean): Promise<Discovery> {
  const url = `${config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const { status, json } = await fetchJson(doFetch, url, { headers: { accept: 'application/json' } }, 'discovery document');
  if (status !== 200) throw fail(502, 'idp_unreachable', `The OpenID provider's discovery document ${url} answered ${status}; check console.oidc.issuer.`);
  if (json['issuer'] !== config.issuer) {
    throw fail(
      502,
      'idp_misconfigured',
      `The OpenID provider at ${url} names its issuer ${JSON.stringify(json['issuer'])}, not ${config.issuer}; ` +
        "set console.oidc.issuer to the provider's exact issuer.",
    );
  }
  const endpoint = (name: 'authorization_endpoint' | 'token_endpoint' | 'jwks_uri'): string => {
    const value = json[name];
    const parsed = typeof value === 'string' ? URL.parse(value) : null;
    if (parsed === null || !(parsed.protocol === 'https:' || (loopbackHttp && parsed.protocol === 'http:'))) {
      throw fail(502, 'idp_misconfigured', `The OpenID provider's discovery document has no usable ${name} (got ${JSON.stringify(value)}).`);
    }
    return value as string;
  };
  const methods = json['code_challenge_methods_supported'];
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw fail(502, 'idp_misconfigured', 'The OpenID provider does not support PKCE with S256 (code_challenge_methods_supported); the console needs it.');
  }
  const auth = json['token_endpoint_auth_methods_supported'];
  return {
    authorization_endpoint: endpoint('authorization_endpoint'),
    token_endpoint: endpoint('token_endpoint'),
    jwks_uri: endpoint('jwks_uri'),
    ...(Array.isArray(auth) ? { token_endpoint_auth_methods_supported: auth.filter((m): m is string => typeof m === 'string') } : {}),
  };
}

async function fetchJson(doFetch: typeof fetch, url: string, init: RequestInit, what: string): Promise<{ status: number; json: Record<string, unknown> }> {
  let response: Response;
  try {
    response = await doFetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw fail(
      502,
      'idp_unreachable',
      `The OpenID provider's ${what} at ${url} could not be reached (${cause}); check console.oidc.issuer, or try again later.`,
    );
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail(502, 'idp_unreachable', `The OpenID provider's ${what} at ${url} answered ${response.status} without JSON; check console.oidc.issuer.`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw fail(502, 'idp_unreachable', `The OpenID provider's ${what} at ${url} answered ${response.status} without a JSON object.`);
  }
  return { status: response.status, json: json as Record<string, unknown> };
}

/** The person's principal from the ID token, their admin roles, and their session token. */
async function startSession(
  deps: ConsoleOidcDeps,
  idToken: JWTPayload,
): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string; principal: string }> {
  const { config } = deps;
  const { claim, domain } = config.principal;
  const raw = idToken[claim];
  if (typeof raw !== 'string' || raw === '') {
    throw fail(
      403,
      'no_principal',
      `The ID token has no ${claim} claim to name you by; ask for it in console.oidc.scopes, or map people by another claim (console.oidc.principal.claim).`,
    );
  }
  // Judged as the provider sent it, before lower-casing: outside ASCII, lower-casing can turn
  // another person's distinct name into this one (U+212A KELVIN SIGN + "ate" is "kate").
  const name = raw.toLowerCase();
  const principal = `${domain}.${name}`;
  if (!RAW_NAME.test(raw) || !isServiceName(name) || !isPrincipalName(principal)) {
    throw fail(
      403,
      'no_principal',
      `Your ${claim} "${raw.slice(0, 100)}" cannot be a name in Tessera (${describeNameRule('service')}, lower-cased; ` +
        'only ASCII letters, digits, _ and - are taken as sent); map people by another claim (console.oidc.principal.claim).',
    );
  }
  const now = deps.now();
  const [memberships, service] = await Promise.all([deps.store.membershipsOf(principal), deps.store.getService(principal)]);
  if (service !== null) {
    throw fail(
      403,
      'no_principal',
      `${principal} is a registered service, so a person cannot sign in under that name; set console.oidc.principal.domain to a domain kept for people.`,
    );
  }
  const fromGroups = new Set<string>();
  if (config.groups !== null) {
    const value = idToken[config.groups.claim];
    const groups = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string') : [];
    for (const group of groups) {
      for (const role of Object.hasOwn(config.groups.roles, group) ? config.groups.roles[group]! : []) fromGroups.add(adminRoleDomain(role)!);
    }
  }
  const fromRegistry = new Set(
    memberships.filter((m) => m.role === ADMIN_ROLE && (m.expiresAt === null || m.expiresAt > now) && !fromGroups.has(m.domain)).map((m) => m.domain),
  );
  const all = [...fromGroups, ...fromRegistry];
  if (all.length === 0) {
    throw fail(
      403,
      'not_admin',
      `${principal} is not an admin: add it to sys.auth:role.admin or a domain's admin role` +
        `${config.groups === null ? '' : `, or map one of its groups in console.oidc.groups.roles`}, then sign in again.`,
    );
  }
  // The principal is the person first signed in with it: bound at that sign-in to the provider's
  // (iss, sub), it is refused to any other identity the claim names later (a username reused or
  // changed at the provider), until a system admin deletes the binding.
  const subject = String(idToken.sub);
  const binding = await deps.store.bindPerson({ principal, issuer: config.issuer, subject }, { actor: principal });
  if (binding.issuer !== config.issuer || binding.subject !== subject) {
    throw fail(
      403,
      'principal_bound',
      `${principal} belongs to another person: it was first signed in with another identity (the OpenID provider ${binding.issuer}, ` +
        `another subject than yours, ${JSON.stringify(subject.slice(0, 200))}). If your identity at the provider changed, ` +
        `a system admin deletes the binding (DELETE /admin/v1/people/${principal}/binding), ` +
        'and you sign in again.',
    );
  }
  // System admin first, so the page reads its standing from the first role.
  const ordered = [...new Set(all)].sort((a, b) => (a === SYSTEM_DOMAIN ? -1 : b === SYSTEM_DOMAIN ? 1 : a.localeCompare(b)));
  const scope = ordered.map((d) => `${d}:role.${ADMIN_ROLE}`).join(' ');
  const issuedAt = Math.floor(now / 1000);
  const claims: PersonSessionClaims = {
    ver: 1,
    iss: deps.issuer,
    aud: adminApiAudience(deps.issuer),
    sub: principal,
    iat: issuedAt,
    nbf: issuedAt,
    exp: issuedAt + config.sessionLifetime,
    jti: randomUUID(),
    tessera_session: 'person',
    sign_in: { method: 'oidc', iss: config.issuer, sub: subject },
    admin_of: [...fromRegistry].sort(),
    admin_of_idp: [...fromGroups].sort(),
    scope,
  };
  const token = await signPersonSession(claims, deps.signingKey());
  await deps.store.appendAudit({
    at: now,
    actor: principal,
    type: 'console.sign-in',
    target: principal,
    before: null,
    after: {
      method: 'oidc',
      issuer: config.issuer,
      subject: claims.sign_in.sub,
      jti: claims.jti,
      expiresAt: claims.exp * 1000,
      adminOf: claims.admin_of,
      adminOfFromGroups: claims.admin_of_idp,
    },
  });
  return { access_token: token, token_type: 'Bearer', expires_in: config.sessionLifetime, scope, principal };
}

// A real OpenID provider for tests of the console's OpenID Connect sign-in: oidc-provider (panva)
// on a free loopback port over http, with its development login page (any password; the login is
// the account id), consent granted without asking, and ID tokens carrying the claims of the
// granted scopes (preferred_username, email, groups). `signIn` drives the authorization request
// without a browser, as the login page's form would.
//
// `tamper` makes its token endpoint answer with an ID token signed by another key, and `forge`
// with one signed by its own key holding the given claims (both for tests of what the server must
// refuse); `close` takes it away (unreachable).

import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Config } from '../../server/src/index.ts';
import type { ConsoleOidcConfig } from '../../server/src/config/console-oidc.ts';
import type { TestRequest, TestResponse } from './https.ts';
import { freePort } from './port.ts';

type CryptoKeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface TestAccount {
  preferred_username?: string;
  email?: string;
  groups?: string[];
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** The next token answers carry an ID token signed by a key the provider does not publish. */
  tamper: boolean;
  /** The next token answers carry an ID token signed by the provider's key, with these claims over valid ones for `root`. */
  forge: Record<string, unknown> | null;
  close(): Promise<void>;
}

interface GrantLike {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
interface ProviderContext {
  oidc: {
    provider: { Grant: new (init: { accountId: string; clientId: string }) => GrantLike };
    session?: { accountId?: string };
    client?: { clientId: string };
    params?: { scope?: string };
  };
}

export async function startTestProvider(options: { redirectUris: string[]; publicClient?: boolean }): Promise<TestProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'tessera-console';
  const clientSecret = randomBytes(24).toString('base64url');
  const accounts = new Map<string, TestAccount>();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'test-provider', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    jwks: { keys: [signingJwk] },
    clients: [
      {
        client_id: clientId,
        ...(options.publicClient ? { token_endpoint_auth_method: 'none' } : { client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' }),
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups'],
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    // Consent is not the subject of these tests: every requested scope is granted at once.
    async loadExistingGrant(ctx: ProviderContext) {
      const accountId = ctx.oidc.session?.accountId;
      const client = ctx.oidc.client;
      if (!accountId || !client) return undefined;
      const grant = new ctx.oidc.provider.Grant({ accountId, clientId: client.clientId });
      grant.addOIDCScope(ctx.oidc.params?.scope ?? 'openid');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();
  const state: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    tamper: false,
    forge: null,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if ((state.tamper || state.forge) && req.method === 'POST' && req.url === '/token') {
      const key = state.tamper ? null : { privateKey, kid: signingJwk.kid };
      void forgedAnswer(issuer, clientId, key, state.forge ?? {}).then((body) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return state;
}

async function forgedAnswer(
  issuer: string,
  clientId: string,
  key: { privateKey: CryptoKeyLike; kid: string } | null,
  claims: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const signer = key ?? { privateKey: (await generateKeyPair('RS256')).privateKey, kid: 'not-published' };
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, aud: clientId, sub: 'root', iat: now, exp: now + 300, preferred_username: 'root', groups: ['tessera-admins'], ...claims };
  const idToken = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: signer.kid }).sign(signer.privateKey);
  return { access_token: 'x', token_type: 'Bearer', expires_in: 300, id_token: idToken };
}

/** PKCE (RFC 7636) S256, state and nonce, as the console page makes them. */
export function authorizationSecrets(): { state: string; nonce: string; codeVerifier: string; codeChallenge: string } {
  const codeVerifier = randomBytes(32).toString('base64url');
  return {
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    codeVerifier,
    codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url'),
  };
}

/**
 * The authorization request through the provider's login page, without a browser: answers the
 * query the provider redirects to `redirectUri` with (`code` and `state`, or `error`).
 */
export async function authorizeAt(authorizationEndpoint: string, params: Record<string, string>, login: string): Promise<URLSearchParams> {
  const jar = new Map<string, string>();
  const request = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie } });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1));
    }
    return response;
  };
  let url = `${authorizationEndpoint}?${new URLSearchParams(params)}`;
  const redirectUri = params['redirect_uri']!;
  for (let hop = 0; hop < 10; hop++) {
    const response = await request(url);
    const location = response.headers.get('location');
    if (location === null) {
      const text = await response.text();
      const action = /<form[^>]* action="([^"]+)"/.exec(text)?.[1];
      if (response.status !== 200 || action === undefined)
        throw new Error(
          `authorization: ${response.status} at ${url}: ${text
            .replace(/<[^>]+>/g, ' ')
            .replace(/\s+/g, ' ')
            .slice(-400)}`,
        );
      // The login page's form: any password, the login is the account id.
      const base = new URL(url).origin;
      const submitted = await request(new URL(action.replaceAll('&amp;', '&'), url).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString(),
      });
      const next = submitted.headers.get('location');
      if (next === null) throw new Error(`login: ${submitted.status} ${(await submitted.text()).slice(0, 300)}`);
      url = new URL(next, base).toString();
      continue;
    }
    const target = new URL(location, url);
    if (target.toString().startsWith(redirectUri)) return target.searchParams;
    url = target.toString();
  }
  throw new Error('authorization: too many redirects');
}

/** What a person's sign-in may change, to test the server's refusals: the code, verifier or nonce the page sends. */
export interface PersonSignInTweak {
  nonce?: string;
  code?: string;
  codeVerifier?: string;
}

/**
 * A person's console sign-in as the page runs it, without a browser: GET /console/oidc/config on
 * the Tessera `server`, the authorization request at the provider as `login`, then POST
 * /console/oidc/session with the code (or what `tweak` puts in its place). Answers that POST's answer.
 */
export async function personSignIn(
  server: { send(path: string, options?: TestRequest): Promise<TestResponse> },
  login: string,
  tweak: PersonSignInTweak = {},
): Promise<TestResponse> {
  const config = await server.send('/console/oidc/config');
  if (config.status !== 200) throw new Error(`GET /console/oidc/config answered ${config.status}: ${config.text}`);
  const { authorizationEndpoint, clientId, scopes, redirectUri } = config.json as Record<string, string>;
  const s = authorizationSecrets();
  const query = await authorizeAt(
    authorizationEndpoint!,
    {
      response_type: 'code',
      client_id: clientId!,
      redirect_uri: redirectUri!,
      scope: scopes!,
      state: s.state,
      nonce: s.nonce,
      code_challenge: s.codeChallenge,
      code_challenge_method: 'S256',
    },
    login,
  );
  if (query.get('state') !== s.state) throw new Error(`the provider answered another state: ${query.toString()}`);
  const body = {
    code: tweak.code ?? query.get('code')!,
    codeVerifier: tweak.codeVerifier ?? s.codeVerifier,
    nonce: tweak.nonce ?? s.nonce,
    redirectUri,
  };
  return server.send('/console/oidc/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Groups claim and mapping the console tests use: members of `tessera-admins` are system admins. */
export const ADMIN_GROUPS: NonNullable<ConsoleOidcConfig['groups']> = { claim: 'groups', roles: { 'tessera-admins': ['sys.auth:role.admin'] } };

/**
 * Points a Tessera config (startTestServer's `edit`) at `idp` for the console's sign-in, as a
 * confidential client whose secret is in a file of the data dir; people are `user.<preferred_username>`.
 * With `groups`, the groups scope is asked for and the claim mapped to roles.
 */
export function consoleSignInAt(idp: TestProvider, config: Config, groups: ConsoleOidcConfig['groups'] = null): void {
  const secretFile = join(config.dataDir, 'oidc-client-secret');
  writeFileSync(secretFile, `${idp.clientSecret}\n`);
  config.console.oidc = {
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecretFile: secretFile,
    scopes: groups === null ? ['openid', 'profile'] : ['openid', 'profile', 'email', 'groups'],
    principal: { claim: 'preferred_username', domain: 'user' },
    groups,
    sessionLifetime: 900,
  };
}

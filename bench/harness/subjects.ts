// The servers under test and how each is started, set up and asked for a token. Every server
// gets the same job: client `alpha.api`, client_secret_basic, a token for audience `beta`
// carrying the roles `readers` and `writers`, signed ES256.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { serveEnvToAdd, serveFlagsToAdd } from '../../packages/cli/src/serve-flags.ts';
import { createDatabase, type ThrowawayDatabase } from './postgres.ts';
import { freePort, waitUntilReady, type Child, type Children } from './processes.ts';
import { startTessera, type TesseraInstance } from './tessera-cli.ts';
import type { TokenExpectations, TokenRequestShape } from './verify.ts';

export type SubjectKind = 'floor' | 'oidc-provider' | 'tessera';

export interface RowSpec {
  id: string;
  label: string;
  kind: SubjectKind;
  processes: number;
  storage?: 'sqlite' | 'postgres';
  /** Where the throwaway database of a PostgreSQL row is created; harness/postgres.ts's default otherwise. */
  postgresServer?: string;
  /** Tessera with TESSERA_TOKEN_REUSE=true, loaded with one repeated identical request. */
  tokenReuse?: boolean;
  /** Also measure latency at half of the peak rate just measured. */
  halfRate?: boolean;
  /**
   * Tessera through `tessera serve --workers <n>` ('auto': the flag left out, every core), or the
   * bench server's own cluster where the build has no such flag. Unset: the bench server.
   */
  workers?: number | 'auto';
  /** Separate Tessera instances on one database, each on its own port; the load is split among them. */
  instances?: number;
  /**
   * Tessera answering RFC 8693 token exchanges instead of client credentials: the actor
   * `edge.gw` exchanges one fixed access token of `alpha.api` (sent to it) for `beta:domain`, every
   * request the same (an exchanged token is never reused, so each one is signed anew).
   */
  exchange?: boolean;
}

export interface Launched {
  child: Child;
  pids: number[];
  request: TokenRequestShape;
  expect: TokenExpectations;
  /** With several instances: every instance's token request and expectations (the first is request/expect). */
  instances?: { request: TokenRequestShape; expect: TokenExpectations }[];
  /**
   * Which processes to ask for a report (SIGUSR2), per instance: none for `tessera serve`, which
   * SIGUSR2 would end. Unset: every pid, through `child`.
   */
  reporters?: { child: Child; pids: number[] }[];
  /** /metrics of every instance, when each is one process, so that the scrapes see every counter. */
  metricsUrls?: string[];
  /** Whether PostgreSQL's CPU counts for this subject. */
  postgres?: boolean;
  /** How the subject was started, when that differs from what its row says. */
  note?: string;
  /** PostgreSQL backends serving a Tessera on PostgreSQL. */
  databasePids?: () => Promise<number[]>;
  /** Admin API calls, for Tessera only. */
  admin?: (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;
  cleanup(): Promise<void>;
}

export interface LaunchContext {
  children: Children;
  /** Node flags for the server's processes (`--cpu-prof …`). */
  nodeFlags: string[];
  signingJwk: JWK;
  startTimeoutMs: number;
}

export const CLIENT_ID = 'alpha.api';
/** The service that exchanges alpha.api's token in the token exchange rows. */
export const EXCHANGE_ACTOR = 'edge.gw';
const EXCHANGE_DOMAIN = 'edge';
/** Asked for the subject token of an exchange row; it must outlive the row (setup, warm-up, peak and half-rate runs). */
const SUBJECT_TOKEN_SECONDS = 3600;
const SUBJECT_TOKEN_MIN_SECONDS = 600;
export const AUDIENCE = 'beta';
export const ROLES = ['readers', 'writers'] as const;
/** High enough never to refuse the benchmark, yet every request still passes through the buckets. */
const UNREFUSING_RATE = '1000000';

const SERVERS = join(import.meta.dirname, '..', 'servers');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export function basic(id: string, secret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

export async function launch(spec: RowSpec, context: LaunchContext): Promise<Launched> {
  return spec.kind === 'tessera' ? launchTessera(spec, context) : launchReference(spec, context);
}

/** The floor and oidc-provider: configured entirely by their argument. */
async function launchReference(spec: RowSpec, context: LaunchContext): Promise<Launched> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(32).toString('base64url');
  const args = { port, processes: spec.processes, clientId: CLIENT_ID, clientSecret, signingJwk: context.signingJwk, audience: AUDIENCE, roles: ROLES };
  const script = join(SERVERS, spec.kind === 'floor' ? 'floor.ts' : 'oidc-provider.ts');
  const child = context.children.spawn(script, [JSON.stringify(args)], { env: { ...process.env, NODE_ENV: 'production' }, nodeFlags: context.nodeFlags });
  try {
    const { pids } = await waitUntilReady(child, context.startTimeoutMs);
    // oidc-provider grants what the client asks for among its scopes; the floor ignores scope.
    const scope = spec.kind === 'floor' ? `${AUDIENCE}:domain` : ROLES.join(' ');
    return {
      child,
      pids,
      request: {
        url: `${origin}/token`,
        headers: { ...FORM, authorization: basic(CLIENT_ID, clientSecret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
      },
      expect: { jwksUrl: `${origin}/jwks`, issuer: origin, audience: AUDIENCE, clientId: CLIENT_ID, roles: ROLES },
      cleanup: () => context.children.stop(child),
    };
  } catch (error) {
    await context.children.stop(child);
    throw error;
  }
}

/** The TESSERA_* settings of a benchmark row; nothing from the caller's shell leaks in. */
export function tesseraEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('TESSERA_')) env[name] = value;
  return { ...env, NODE_ENV: 'production', ...settings };
}

export interface Scratch {
  dataDir: string;
  database?: ThrowawayDatabase;
  /** The TESSERA_* settings of a benchmark: rate limits that never refuse, one master key for every instance. */
  env: NodeJS.ProcessEnv;
  /** Removes the data dir and drops the database (also done if the run is interrupted first). */
  dispose(): Promise<void>;
}

/** A throwaway data dir, and for PostgreSQL a throwaway database, for Tessera instances. */
export async function tesseraScratch(
  children: Children,
  options: { name: string; storage?: 'sqlite' | 'postgres'; postgresServer?: string; settings?: Record<string, string> },
): Promise<Scratch> {
  const dataDir = await mkdtemp(join(tmpdir(), `tessera-bench-${options.name}-`));
  let database: ThrowawayDatabase | undefined;
  const leftovers = async (): Promise<void> => {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  };
  const forget = children.leaveBehind(leftovers);
  try {
    if (options.storage === 'postgres') database = await createDatabase(options.postgresServer);
  } catch (error) {
    forget();
    await leftovers();
    throw error;
  }
  const env = tesseraEnv({
    TESSERA_RATE_LIMIT_CLIENT: UNREFUSING_RATE,
    TESSERA_RATE_LIMIT_CLIENT_BURST: UNREFUSING_RATE,
    TESSERA_RATE_LIMIT_IP: UNREFUSING_RATE,
    TESSERA_RATE_LIMIT_IP_BURST: UNREFUSING_RATE,
    // Several instances on one database must share the master key.
    TESSERA_MASTER_KEY: randomBytes(32).toString('base64'),
    ...options.settings,
  });
  return {
    dataDir,
    database,
    env,
    async dispose() {
      forget();
      await leftovers();
    },
  };
}

async function launchTessera(spec: RowSpec, context: LaunchContext): Promise<Launched> {
  const scratch = await tesseraScratch(context.children, {
    name: spec.id,
    storage: spec.storage,
    postgresServer: spec.postgresServer,
    settings: { TESSERA_TOKEN_REUSE: spec.tokenReuse ? 'true' : 'false' },
  });
  const { dataDir, database, env } = scratch;
  const started: TesseraInstance[] = [];
  const cleanup = async (): Promise<void> => {
    for (const instance of started) await context.children.stop(instance.child);
    await scratch.dispose();
  };
  try {
    // The V8 flags and environment `tessera serve` gives itself (unless --node-flags sets them):
    // the bench's own server gets them too, so every row runs as `tessera serve` would.
    const nodeFlags = [...serveFlagsToAdd(['serve'], context.nodeFlags, env['NODE_OPTIONS']), ...context.nodeFlags];
    // Several instances on one SQLite file are an opt-in (without it the second is refused).
    const serveEnv = { ...env, ...serveEnvToAdd(['serve'], env), ...((spec.instances ?? 1) > 1 ? { TESSERA_SHARED_DATA_DIR: '1' } : {}) };
    // One after another, so that the first alone creates the schema.
    for (let i = 0; i < (spec.instances ?? 1); i += 1) {
      started.push(
        await startTessera({
          children: context.children,
          dataDir,
          database: database?.url,
          workers: spec.workers ?? spec.processes,
          env: serveEnv,
          nodeFlags,
          timeoutMs: context.startTimeoutMs,
          benchServer: spec.workers === undefined,
        }),
      );
    }
    const admin = await adminClient(started[0]!.origin, dataDir);
    const secret = await registerBenchClient(admin);
    const exchange = spec.exchange ? await registerExchangeActor(admin, started[0]!.origin, secret) : undefined;
    const instances = started.map(({ origin }) => ({
      request: {
        url: `${origin}/oauth2/token`,
        headers: { ...FORM, authorization: exchange ? basic(EXCHANGE_ACTOR, exchange.actorSecret) : basic(CLIENT_ID, secret) },
        body: new URLSearchParams(
          exchange
            ? { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: exchange.subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: `${AUDIENCE}:domain` }
            : { grant_type: 'client_credentials', scope: `${AUDIENCE}:domain` },
        ).toString(),
      },
      // An exchanged token's client_id is the actor; its sub stays alpha.api.
      expect: { jwksUrl: `${origin}/oauth2/keys`, issuer: origin, audience: AUDIENCE, clientId: exchange ? EXCHANGE_ACTOR : CLIENT_ID, roles: ROLES },
    }));
    const singleProcess = started.every((instance) => instance.pids.length === 1 || (instance.pids.length === 2 && spec.workers === 1));
    return {
      child: started[0]!.child,
      pids: started.flatMap((instance) => instance.pids),
      ...instances[0]!,
      instances: instances.length > 1 ? instances : undefined,
      reporters: started.every((instance) => instance.reportable) ? started.map(({ child, pids }) => ({ child, pids })) : [],
      metricsUrls: singleProcess ? started.map(({ origin }) => `${origin}/metrics`) : undefined,
      postgres: database !== undefined,
      note: started[0]!.note,
      admin,
      databasePids: database ? () => database!.backendPids() : undefined,
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export type AdminCall = NonNullable<Launched['admin']>;

export async function adminClient(origin: string, dataDir: string): Promise<AdminCall> {
  const credential = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
  const res = await fetch(`${origin}/oauth2/token`, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(credential.clientId, credential.clientSecret) },
    body: 'grant_type=client_credentials&scope=sys.auth%3Arole.admin',
  });
  if (res.status !== 200) throw new Error(`admin token: ${res.status} ${await res.text()}`);
  const token = ((await res.json()) as { access_token: string }).access_token;
  return async (method, path, body) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const answer = await fetch(`${origin}/admin/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await answer.text();
    return { status: answer.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/** `alpha.api`, fenced to loopback, holding both roles of `beta`; returns its secret. */
export async function registerBenchClient(admin: AdminCall): Promise<string> {
  const must = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const { status, json } = await admin(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  };
  await must('POST', '/domains', { name: 'alpha' });
  await must('POST', '/domains', { name: AUDIENCE });
  const service = await must('POST', '/domains/alpha/services', { name: 'api', allowedIps: ['127.0.0.0/8'] });
  for (const role of ROLES) await must('PUT', `/domains/${AUDIENCE}/roles/${role}`, { members: [{ principal: CLIENT_ID }] });
  return service['clientSecret'] as string;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * For a token exchange row, on top of registerBenchClient: the actor `edge.gw` (fenced to
 * loopback), `beta`'s roles listing it in `actors`, and the subject token: alpha.api's token for
 * `edge` (a subject token must have been sent to the actor's domain), living well past the row.
 */
export async function registerExchangeActor(admin: AdminCall, origin: string, clientSecret: string): Promise<{ actorSecret: string; subjectToken: string }> {
  const must = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const { status, json } = await admin(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  };
  await must('POST', '/domains', { name: EXCHANGE_DOMAIN });
  const actor = await must('POST', `/domains/${EXCHANGE_DOMAIN}/services`, { name: 'gw', allowedIps: ['127.0.0.0/8'] });
  await must('PUT', `/domains/${EXCHANGE_DOMAIN}/roles/callers`, { members: [{ principal: CLIENT_ID }] });
  for (const role of ROLES) await must('PUT', `/domains/${AUDIENCE}/roles/${role}`, { members: [{ principal: CLIENT_ID }], actors: [EXCHANGE_ACTOR] });
  const res = await fetch(`${origin}/oauth2/token`, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(CLIENT_ID, clientSecret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${EXCHANGE_DOMAIN}:domain`, expires_in: String(SUBJECT_TOKEN_SECONDS) }).toString(),
  });
  const answer = (await res.json()) as { access_token?: string; expires_in?: number };
  if (res.status !== 200 || typeof answer.access_token !== 'string') throw new Error(`subject token: ${res.status} ${JSON.stringify(answer)}`);
  if ((answer.expires_in ?? 0) < SUBJECT_TOKEN_MIN_SECONDS) {
    throw new Error(`the subject token lives ${answer.expires_in} s, less than the ${SUBJECT_TOKEN_MIN_SECONDS} s an exchange row may take`);
  }
  return { actorSecret: actor['clientSecret'] as string, subjectToken: answer.access_token };
}

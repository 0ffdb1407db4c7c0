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
}

export interface Launched {
  child: Child;
  pids: number[];
  request: TokenRequestShape;
  expect: TokenExpectations;
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
      request: { url: `${origin}/token`, headers: { ...FORM, authorization: basic(CLIENT_ID, clientSecret) }, body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString() },
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

async function launchTessera(spec: RowSpec, context: LaunchContext): Promise<Launched> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
  let database: ThrowawayDatabase | undefined;
  let child: Child | undefined;
  const leftovers = async (): Promise<void> => {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  };
  const forget = context.children.leaveBehind(leftovers);
  const cleanup = async (): Promise<void> => {
    forget();
    if (child) await context.children.stop(child);
    await leftovers();
  };
  try {
    if (spec.storage === 'postgres') database = await createDatabase(spec.postgresServer);
    const env = tesseraEnv({
      TESSERA_RATE_LIMIT_CLIENT: UNREFUSING_RATE,
      TESSERA_RATE_LIMIT_CLIENT_BURST: UNREFUSING_RATE,
      TESSERA_RATE_LIMIT_IP: UNREFUSING_RATE,
      TESSERA_RATE_LIMIT_IP_BURST: UNREFUSING_RATE,
      TESSERA_TOKEN_REUSE: spec.tokenReuse ? 'true' : 'false',
      // Several instances on one database must share the master key; one key per row.
      ...(database ? { TESSERA_MASTER_KEY: randomBytes(32).toString('base64') } : {}),
    });
    const args = { port, processes: spec.processes, dataDir, database: database?.url };
    // The V8 flags and environment `tessera serve` gives itself (unless --node-flags sets them).
    const nodeFlags = [...serveFlagsToAdd(['serve'], context.nodeFlags, env['NODE_OPTIONS']), ...context.nodeFlags];
    const serveEnv = { ...env, ...serveEnvToAdd(['serve'], env) };
    child = context.children.spawn(join(SERVERS, 'tessera.ts'), [JSON.stringify(args)], { env: serveEnv, nodeFlags });
    const { pids } = await waitUntilReady(child, context.startTimeoutMs);
    const admin = await adminClient(origin, dataDir);
    const secret = await registerBenchClient(admin);
    return {
      child,
      pids,
      request: {
        url: `${origin}/oauth2/token`,
        headers: { ...FORM, authorization: basic(CLIENT_ID, secret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${AUDIENCE}:domain` }).toString(),
      },
      expect: { jwksUrl: `${origin}/oauth2/keys`, issuer: origin, audience: AUDIENCE, clientId: CLIENT_ID, roles: ROLES },
      admin,
      databasePids: database ? () => database!.backendPids() : undefined,
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

type AdminCall = NonNullable<Launched['admin']>;

async function adminClient(origin: string, dataDir: string): Promise<AdminCall> {
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
async function registerBenchClient(admin: AdminCall): Promise<string> {
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

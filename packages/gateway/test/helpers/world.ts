// Everything an end-to-end test of the gateway runs against, on loopback: a real Tessera
// (services, roles with the gateway among their actors, caller tokens, API keys, introspection,
// JWKS, and the token endpoint that exchanges tokens and answers proxy_for_principal), the
// upstream service (upstream.ts) verifying the gateway's tokens against Tessera's JWKS, three test
// PKIs (the "Tessera" CA whose certificates carry SPIFFE names, a partner CA mapped by subject,
// and a CA nobody trusts), and the gateway itself spawned as `tessera gateway --config <file>`.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createTestPki, issueCertificate, type Pem, type TestPki } from '@tessera/testkit/pki';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { startUpstream, type Upstream } from './upstream.ts';

export const ROOT = join(import.meta.dirname, '..', '..', '..', '..');
export const GATEWAY = 'edge.gw';

/** One token request the gateway made, as Tessera's audit recorded it (`token.issued` or `token.refused`). */
export interface TokenRequest {
  type: 'token.issued' | 'token.refused';
  status: number;
  /** What the gateway asked for and what it got. */
  scope: string | null;
  grantedScope?: string | null;
  /** For an issued token: for whom, the actors (current first), and how (`delegation` for a token exchange, `proxy` for proxy_for_principal). */
  subject?: string;
  actors?: string[];
  acting?: 'delegation' | 'impersonation' | 'proxy';
  jti?: string;
}

export interface World {
  tessera: TestServer;
  /** Every token request the gateway made to Tessera so far, oldest first (from Tessera's audit, flushed first). */
  tokenRequests(): Promise<TokenRequest[]>;
  upstream: Upstream;
  /** Server certificate of the gateway and the SPIFFE-naming client CA. */
  pki: TestPki;
  partner: TestPki;
  untrusted: TestPki;
  dir: string;
  secrets: Record<'gw' | 'alpha' | 'carol', string>;
  apiKeys: { alpha: string; alphaId: string };
  /** A real Tessera token for `who` with `scope`. */
  token(who: 'alpha' | 'carol', scope: string): Promise<string>;
  /** A client certificate from `ca`, with subject CN `cn` and (optionally) one URI SAN; or a server certificate for 127.0.0.1. */
  certificate(ca: Pem, cn: string, uri?: string, kind?: 'client' | 'server'): Pem;
  /** Writes a config file (the default one changed by `edit`) and answers its path. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document under test
  config(edit?: (config: Record<string, any>) => void, name?: string): string;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-gateway-test-'));
  const tessera = await startTestServer();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const admin = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await tessera.admin$(method, path, body);
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json;
  };
  for (const name of ['orders', 'edge', 'alpha', 'carol', 'partner']) await admin('POST', '/domains', { name });
  const gw = (await admin('POST', '/domains/edge/services', { name: 'gw' })).clientSecret as string;
  const alpha = (await admin('POST', '/domains/alpha/services', { name: 'api' })).clientSecret as string;
  const carol = (await admin('POST', '/domains/carol/services', { name: 'api' })).clientSecret as string;
  // The partner's principals, named by certificateMappings: Tessera issues tokens only for principals that exist.
  for (const name of ['billing', 'ci']) await admin('POST', '/domains/partner/services', { name });
  // A role lets the gateway act for its members only when it lists the gateway in `actors`; for callers
  // without a token of their own (proxy_for_principal, Athenz's rule) the gateway must hold the role too.
  const members = (...principals: string[]): { principal: string }[] => principals.map((principal) => ({ principal }));
  await admin('PUT', '/domains/orders/roles/readers', {
    members: members('alpha.api', 'carol.api', 'partner.billing', 'partner.ci', GATEWAY),
    actors: [GATEWAY],
  });
  await admin('PUT', '/domains/orders/roles/writers', { members: members('carol.api', GATEWAY), actors: [GATEWAY] });
  // alpha.api holds it, but the gateway may not act for its holders.
  await admin('PUT', '/domains/orders/roles/auditors', { members: members('alpha.api', GATEWAY) });
  const key = await admin('POST', '/domains/alpha/services/api/api-keys', { audience: 'orders' });

  const upstream = await startUpstream({ issuer: tessera.url, jwksUri: `${tessera.url}/oauth2/keys`, gateway: GATEWAY, ca: tessera.ca });
  const pki = createTestPki();
  const partner = createTestPki();
  const untrusted = createTestPki();
  const files: Record<string, string> = {
    'gw.pem': pki.server.cert,
    'gw.key': pki.server.key,
    'client-ca.pem': pki.ca.cert,
    'partner-ca.pem': partner.ca.cert,
    'tessera-ca.pem': tessera.ca,
    'gw.secret': `${gw}\n`,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });

  const base = (): Record<string, unknown> => ({
    listen: 'https://127.0.0.1:0',
    tls: { cert: 'gw.pem', key: 'gw.key', clientCa: 'client-ca.pem', externalCas: ['partner-ca.pem'], trustDomain: 'tessera.local' },
    tessera: { url: tessera.url, ca: 'tessera-ca.pem', clientId: GATEWAY, clientSecretFile: 'gw.secret', apiKeyCacheTtl: 1 },
    certificateMappings: [
      { cas: ['partner-ca.pem'], subject: 'CN=billing', principal: 'partner.billing' },
      { cas: ['partner-ca.pem'], san: 'https://ci.partner.example/runner', principal: 'partner.ci' },
    ],
    metricsListen: 'http://127.0.0.1:0',
    routes: [
      {
        name: 'orders-read',
        pathPrefix: '/orders',
        methods: ['GET', 'HEAD'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
      },
      {
        name: 'orders-write',
        pathPrefix: '/orders',
        methods: ['POST', 'PUT'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.writers'] },
      },
      {
        name: 'orders-audit',
        pathPrefix: '/orders/audit',
        methods: ['GET'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.auditors'] },
      },
      {
        name: 'orders-slow',
        pathPrefix: '/orders/slow',
        methods: ['GET'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:readers'] },
        timeoutMs: 500,
      },
      {
        name: 'internal',
        host: 'internal.example',
        pathPrefix: '/internal',
        methods: ['GET'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:readers'] },
      },
      { name: 'dead', pathPrefix: '/dead', methods: ['GET'], upstream: 'http://127.0.0.1:9', audience: 'orders', require: { scope: ['orders:readers'] } },
    ],
  });

  return {
    tessera,
    upstream,
    pki,
    partner,
    untrusted,
    dir,
    secrets: { gw, alpha, carol },
    apiKeys: { alpha: key.apiKey as string, alphaId: key.id as string },
    async tokenRequests() {
      await tessera.server.flushAudit();
      const events: { actor: string; type: string; after: Record<string, unknown> }[] = [];
      for (let cursor = ''; ;) {
        const page = await admin('GET', `/audit?principal=${GATEWAY}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        events.push(...(page.events as typeof events));
        if (!page.nextCursor) break;
        cursor = page.nextCursor as string;
      }
      return events
        .filter((e) => e.actor === GATEWAY && (e.type === 'token.issued' || e.type === 'token.refused'))
        .reverse()
        .map((e) => ({ type: e.type, ...e.after }) as unknown as TokenRequest);
    },
    async token(who, scope) {
      const secret = who === 'alpha' ? alpha : carol;
      const res = await tessera.token(`${who}.api`, secret, { grant_type: 'client_credentials', scope });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    },
    certificate(ca, cn, uri, kind = 'client') {
      const ext =
        kind === 'server'
          ? 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n'
          : `extendedKeyUsage=clientAuth\n${uri ? `subjectAltName=URI:${uri}\n` : ''}`;
      return issueCertificate(ca, `/CN=${cn}`, ext);
    },
    config(edit, name = 'gateway.json') {
      const config = base();
      edit?.(config);
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(config, null, 2));
      return path;
    },
    async close() {
      await Promise.all([tessera.stop(), upstream.close()]);
      for (const p of [pki, partner, untrusted]) p.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningGateway {
  url: string;
  metricsUrl: string | undefined;
  process: ChildProcess;
  /** Every JSON line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  stderr: string[];
  /** Resolves with the first log entry `match` accepts (already written, or the next ones). */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  /** The exit code (null for a signal) once it exited. */
  exited: Promise<number | null>;
}

/** `tessera gateway --config <file>` in a child process, ready once it logs its URL. */
export async function spawnGateway(configFile: string, env: Record<string, string> = {}, args: string[] = []): Promise<RunningGateway> {
  const child = spawn(process.execPath, [join(ROOT, 'packages/cli/bin/tessera.ts'), 'gateway', '--config', configFile, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ match: (entry: Record<string, unknown>) => boolean; resolve: (entry: Record<string, unknown>) => void }>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = { unparsed: line };
    }
    logs.push(entry);
    for (const waiter of waiters) {
      if (waiter.match(entry)) {
        waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (match: (entry: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (entry: Record<string, unknown>) => (clearTimeout(timer), resolve(entry)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no such log line within ${timeoutMs} ms; stderr: ${stderr.join('\n')}; logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  };
  const ready = await Promise.race([
    waitForLog((entry) => entry['msg'] === 'gateway listening', 30_000),
    exited.then((code) => {
      throw new Error(`the gateway exited with ${code}: ${stderr.join('\n')}`);
    }),
  ]);
  return {
    url: ready['url'] as string,
    metricsUrl: ready['metrics'] as string | undefined,
    process: child,
    logs,
    stderr,
    waitForLog,
    exited,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

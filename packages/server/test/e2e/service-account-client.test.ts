// The service-account JSON dialect's own Node.js client code works against Tessera with only its
// URL, issuer and audience values changed. Its ServiceAuthClient (test/fixtures/service-account-client.cjs,
// verbatim but for those values) runs in a child process that trusts Tessera's CA through
// NODE_EXTRA_CA_CERTS, against a real Tessera over HTTPS, and calls a small resource server
// here that checks its bearer token independently, with jose.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload } from 'jose';
import { fetchWithCa } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const ISSUER = 'https://auth.tessera.test';
const RUNNER = join(import.meta.dirname, '..', 'fixtures', 'service-account-client-run.cjs');
const WORKFLOWS = {
  workflows: [
    { id: 'wf_123', name: 'Purchase Approval', status: 'ACTIVE', version: '1.0.0' },
    { id: 'wf_456', name: 'Employee Onboarding', status: 'ACTIVE', version: '2.1.0' },
  ],
  count: 2,
  totalCount: 2,
};

interface SeedReport {
  token: string;
  cachedToken: string;
  workflows: typeof WORKFLOWS & { serviceId: string };
  validation: { valid: boolean; payload?: JWTPayload; error?: string };
  forged: { valid: boolean; error?: string };
  otherAudience: { valid: boolean; error?: string };
  wrongSecret: { message: string; status: number; data: unknown } | null;
}

/** The example's workflow service: answers only a bearer token Tessera signed for it with workflow:read. */
function workflowService(t: TestServer): { server: Server; seen: JWTPayload[]; refused: string[] } {
  const jwks = createRemoteJWKSet(new URL(`${t.url}/auth/.well-known/jwks.json`), { [customFetch]: fetchWithCa(t.ca) });
  const seen: JWTPayload[] = [];
  const refused: string[] = [];
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (req.url !== '/workflow-service/workflows/active' || !match?.[1]) return answer(res, 401, { error: 'Missing or invalid authorization header' });
    try {
      const { payload } = await jwtVerify(match[1], jwks, { issuer: ISSUER, audience: 'workflow', typ: 'at+jwt', algorithms: ['ES256'] });
      if (!(payload['scp'] as string[]).includes('workflow:read')) return answer(res, 403, { error: 'insufficient_scope' });
      seen.push(payload);
      answer(res, 200, { ...WORKFLOWS, serviceId: payload.sub });
    } catch (error) {
      refused.push((error as Error).message);
      answer(res, 401, { error: (error as Error).message });
    }
  };
  return { server: createServer((req, res) => void handle(req, res)), seen, refused };
}

describe("the service-account JSON dialect's Node.js ServiceAuthClient against Tessera", () => {
  let t: TestServer;
  let resource: ReturnType<typeof workflowService>;
  let resourceUrl: string;
  let account: { serviceAccountId: string; clientId: string; clientSecret: string };
  let report: SeedReport;

  before(async () => {
    t = await startTestServer({ flags: { issuer: ISSUER } });
    const res = await t.send('/auth/admin/service-accounts', {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'validation-service',
        description: 'Service account for the Validation Service',
        scopes: ['workflow:read', 'validation:write'],
        allowedIps: ['127.0.0.0/8'],
      }),
    });
    assert.equal(res.status, 201, res.text);
    account = res.json;

    resource = workflowService(t);
    await new Promise<void>((resolve) => resource.server.listen(0, '127.0.0.1', resolve));
    const address = resource.server.address();
    resourceUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/workflow-service/workflows/active`;

    const { stdout } = await promisify(execFile)(process.execPath, [RUNNER], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: join(t.dataDir, 'ca.pem'),
        DIALECT_AUTH_SERVICE_URL: `${t.url}/auth`,
        DIALECT_CLIENT_ID: account.clientId,
        DIALECT_CLIENT_SECRET: account.clientSecret,
        DIALECT_RESOURCE_URL: resourceUrl,
      },
      timeout: 60_000,
    });
    report = JSON.parse(stdout) as SeedReport;
  });
  after(async () => {
    await new Promise((resolve) => resource?.server.close(resolve));
    await t?.stop();
  });

  it('getAccessToken() gets a token from /auth/token and caches it until it expires', () => {
    assert.match(report.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(report.cachedToken, report.token);
  });

  it('validateToken() verifies it against /auth/.well-known/jwks.json and returns the expected payload', () => {
    assert.equal(report.validation.valid, true, report.validation.error);
    const payload = report.validation.payload!;
    assert.equal(payload.iss, ISSUER);
    assert.deepEqual(payload.aud, ['workflow', 'validation']);
    assert.equal(payload.sub, 'service-accounts.validation-service');
    assert.equal(payload['client_id'], 'service-accounts.validation-service');
    assert.deepEqual(payload['scp'], ['workflow:read', 'validation:write']);
    assert.equal(payload['scope'], 'workflow:read validation:write');
    assert.equal(payload.exp! - payload.iat!, 3600);
  });

  it('callService() reaches a resource server that accepts its bearer token', () => {
    assert.deepEqual(report.workflows, { ...WORKFLOWS, serviceId: 'service-accounts.validation-service' });
    assert.equal(resource.seen.length, 1);
    assert.deepEqual(resource.refused, []);
  });

  it('validateToken() refuses a forged token and a token for another audience', () => {
    assert.deepEqual(report.forged, { valid: false, error: 'invalid signature' });
    assert.equal(report.otherAudience.valid, false);
    assert.match(report.otherAudience.error!, /audience invalid/);
  });

  it('getAccessToken() rejects with the dialect error AUTH_101 for a wrong secret', () => {
    assert.equal(report.wrongSecret?.status, 401);
    assert.deepEqual(report.wrongSecret?.data, { error: 'AUTH_101', message: 'client authentication failed: unknown client or wrong credentials' });
  });
});

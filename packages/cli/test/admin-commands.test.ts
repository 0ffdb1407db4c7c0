// Each `tessera admin` subcommand sends its admin API request and prints the answer.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeTessera } from './helpers/fake-tessera.ts';
import type { FakeTessera, RecordedRequest } from './helpers/fake-tessera.ts';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');

describe('tessera admin subcommands', () => {
  let server: FakeTessera;
  let cwd: string;

  before(async () => {
    server = await startFakeTessera({ clientId: 'sys.auth.admin', clientSecret: 's3cret' });
    cwd = await makeWorkspace({
      clientId: 'sys.auth.admin',
      clientSecret: 's3cret',
      tokenEndpoint: `${server.url}/oauth2/token`,
    });
  });
  after(async () => {
    await server.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.requests.length = 0;
  });

  const admin = (...argv: string[]): Promise<CliResult> => runCli(['admin', ...argv], { cwd, now: () => NOW });

  /** Runs a command that must succeed and answers the one admin request it made. */
  async function sent(...argv: string[]): Promise<RecordedRequest & { result: CliResult }> {
    const result = await admin(...argv);
    assert.equal(result.code, 0, `exit code 0 expected; stderr: ${result.stderr}`);
    const requests = server.adminRequests();
    assert.equal(requests.length, 1, 'exactly one admin request');
    return { ...requests[0]!, result };
  }

  it('domain create posts the name and description', async () => {
    const req = await sent('domain', 'create', 'payments', '--description', 'Payments team');
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/domains');
    assert.deepEqual(req.body, { name: 'payments', description: 'Payments team' });
  });

  it('domain list, get and delete address the domain', async () => {
    assert.deepEqual(pick(await sent('domain', 'list')), ['GET', '/domains', undefined]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('domain', 'get', 'beta.jobs')), ['GET', '/domains/beta.jobs', undefined]);
    server.requests.length = 0;
    const deleted = await sent('domain', 'delete', 'beta');
    assert.deepEqual(pick(deleted), ['DELETE', '/domains/beta', undefined]);
    assert.equal(deleted.result.stdout, 'deleted domain beta\n');
  });

  it('service create sends every option, with public keys reduced to SPKI PEM', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(cwd, 'k1.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const req = await sent(
      'service',
      'create',
      'sys.auth.deployer',
      '--description',
      'CD pipeline',
      '--allowed-ips',
      '10.0.1.0/24, 2001:db8::/32',
      '--expires-at',
      '90d',
      '--public-key',
      'k1=k1.pem',
    );
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/domains/sys.auth/services');
    assert.deepEqual(req.body, {
      name: 'deployer',
      description: 'CD pipeline',
      allowedIps: ['10.0.1.0/24', '2001:db8::/32'],
      expiresAt: '2030-04-01T00:00:00.000Z',
      secret: true,
      publicKeys: [{ kid: 'k1', pem: publicKey.export({ type: 'spki', format: 'pem' }) }],
    });
  });

  it('service create --no-secret asks for no secret', async () => {
    const req = await sent('service', 'create', 'alpha.api', '--no-secret');
    assert.deepEqual(req.body, { name: 'api', secret: false });
  });

  it('service create prints the secret once and says so on stderr', async () => {
    server.answer('POST /domains/alpha/services', {
      status: 201,
      body: { principal: 'alpha.api', clientId: 'alpha.api', clientSecret: 'tsc_abc', status: 'ACTIVE' },
    });
    const { result } = await sent('service', 'create', 'alpha.api');
    assert.match(result.stdout, /^clientSecret: +tsc_abc$/m);
    assert.match(result.stderr, /shown only this once/);
  });

  it('service update patches only the given fields; "never" clears the expiry', async () => {
    const req = await sent('service', 'update', 'alpha.api', '--status', 'disabled', '--expires-at', 'never');
    assert.equal(req.method, 'PATCH');
    assert.equal(req.path, '/domains/alpha/services/api');
    assert.deepEqual(req.body, { status: 'DISABLED', expiresAt: null });
    server.requests.length = 0;
    const ips = await sent('service', 'update', 'alpha.api', '--allowed-ips', '', '--description', 'API');
    assert.deepEqual(ips.body, { allowedIps: [], description: 'API' });
  });

  it('service update with nothing to change is a usage error and sends nothing', async () => {
    const result = await admin('service', 'update', 'alpha.api');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: nothing to update/);
    assert.equal(server.requests.length, 0);
  });

  it('service list, get and delete address the service', async () => {
    assert.deepEqual(pick(await sent('service', 'list', 'alpha')), ['GET', '/domains/alpha/services', undefined]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('service', 'get', 'sys.auth.admin')), ['GET', '/domains/sys.auth/services/admin', undefined]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('service', 'delete', 'alpha.api')), ['DELETE', '/domains/alpha/services/api', undefined]);
  });

  it('secret rotate posts the grace period', async () => {
    server.answer('POST /domains/alpha/services/api/secrets', { status: 201, body: { clientSecret: 'new', id: 's2' } });
    const req = await sent('secret', 'rotate', 'alpha.api', '--grace-seconds', '300');
    assert.deepEqual(pick(req), ['POST', '/domains/alpha/services/api/secrets', { graceSeconds: 300 }]);
    assert.match(req.result.stdout, /^clientSecret: +new$/m);
    assert.match(req.result.stderr, /shown only this once/);
  });

  it('key put sends the public PEM under the kid; key delete removes it', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    await writeFile(path.join(cwd, 'pub.pem'), pem);
    const put = await sent('key', 'put', 'alpha.api', 'key 1', 'pub.pem');
    assert.deepEqual(pick(put), ['PUT', '/domains/alpha/services/api/keys/key%201', { pem }]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('key', 'delete', 'alpha.api', 'k1')), ['DELETE', '/domains/alpha/services/api/keys/k1', undefined]);
  });

  it('key put refuses a file that holds no key, before connecting', async () => {
    await writeFile(path.join(cwd, 'junk.pem'), 'not a key');
    const result = await admin('key', 'put', 'alpha.api', 'k1', 'junk.pem');
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: key file junk.pem holds no PEM public or private key\n');
    assert.equal(server.requests.length, 0);
  });

  it('role put sends members with optional expiry; get and delete address the role', async () => {
    const put = await sent('role', 'put', 'beta:role.readers', '--member', 'alpha.api', '--member', 'gamma.jobs@2031-06-30T12:00:00Z');
    assert.deepEqual(pick(put), [
      'PUT',
      '/domains/beta/roles/readers',
      { members: [{ principal: 'alpha.api' }, { principal: 'gamma.jobs', expiresAt: '2031-06-30T12:00:00.000Z' }] },
    ]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('role', 'get', 'beta:writers')), ['GET', '/domains/beta/roles/writers', undefined]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('role', 'delete', 'sys.auth:role.admin')), ['DELETE', '/domains/sys.auth/roles/admin', undefined]);
  });

  it('role put sends actors and impersonators, each replacing its list, and "" empties one', async () => {
    const put = await sent('role', 'put', 'orders:readers', '--actors', 'edge.gateway, mid.svc', '--impersonators', '');
    assert.deepEqual(pick(put), ['PUT', '/domains/orders/roles/readers', { actors: ['edge.gateway', 'mid.svc'], impersonators: [] }]);
    server.requests.length = 0;
    assert.deepEqual(
      pick(await sent('role', 'put', 'orders:readers', '--member', 'app.web')),
      ['PUT', '/domains/orders/roles/readers', { members: [{ principal: 'app.web' }] }],
      'lists not named are left as they are',
    );
  });

  it('role put sends idTokenSubjects with --id-token-subjects and --no-id-token-subjects, and nothing without either', async () => {
    assert.deepEqual(pick(await sent('role', 'put', 'orders:readers', '--id-token-subjects')), [
      'PUT',
      '/domains/orders/roles/readers',
      { idTokenSubjects: true },
    ]);
    server.requests.length = 0;
    assert.deepEqual(pick(await sent('role', 'put', 'orders:readers', '--no-id-token-subjects')), [
      'PUT',
      '/domains/orders/roles/readers',
      { idTokenSubjects: false },
    ]);
  });

  it('member add and remove address one member', async () => {
    const add = await sent('member', 'add', 'beta:role.readers', 'alpha.api', '--expires-at', '2030-02-01');
    assert.deepEqual(pick(add), ['PUT', '/domains/beta/roles/readers/members/alpha.api', { expiresAt: '2030-02-01T00:00:00.000Z' }]);
    server.requests.length = 0;
    const remove = await sent('member', 'remove', 'beta:role.readers', 'alpha.api');
    assert.deepEqual(pick(remove), ['DELETE', '/domains/beta/roles/readers/members/alpha.api', undefined]);
    assert.equal(remove.result.stdout, 'removed alpha.api from beta:role.readers\n');
  });

  it('member add and add-many take --review-by and --reason; member remove sends its reason as ?reason=', async () => {
    const add = await sent('member', 'add', 'beta:role.readers', 'alpha.api', '--review-by', '90d', '--reason', 'ticket 42');
    assert.deepEqual(pick(add), [
      'PUT',
      '/domains/beta/roles/readers/members/alpha.api',
      { reviewBy: new Date(NOW + 90 * 86_400_000).toISOString(), reason: 'ticket 42' },
    ]);
    server.requests.length = 0;
    const many = await sent('member', 'add-many', 'beta:role.readers', 'alpha.a', 'alpha.b@30d', '--review-by', '2030-06-01');
    assert.deepEqual(many.body, {
      members: [
        { principal: 'alpha.a', reviewBy: '2030-06-01T00:00:00.000Z' },
        { principal: 'alpha.b', expiresAt: new Date(NOW + 30 * 86_400_000).toISOString(), reviewBy: '2030-06-01T00:00:00.000Z' },
      ],
    });
    server.requests.length = 0;
    const remove = await sent('member', 'remove', 'beta:role.readers', 'alpha.api', '--reason', 'left the team');
    assert.deepEqual(Object.fromEntries(remove.query), { reason: 'left the team' });
    server.requests.length = 0;
    const past = await admin('member', 'add', 'beta:role.readers', 'alpha.api', '--review-by', 'soon');
    assert.equal(past.code, 2);
    assert.equal(server.requests.length, 0);
  });

  it('a change held for a second admin is shown with how it goes on', async () => {
    const pending = { id: 'chg_0123456789abcdef', domain: 'beta', role: 'readers', kind: 'member.put', status: 'pending' };
    server.answer('PUT /domains/beta/roles/readers/members/alpha.api', { status: 202, body: pending });
    const req = await sent('member', 'add', 'beta:role.readers', 'alpha.api');
    assert.match(req.result.stderr, /change chg_0123456789abcdef waits for a second admin of beta: tessera admin approvals approve chg_0123456789abcdef/);
    assert.match(req.result.stdout, /member\.put/);
  });

  it('reviews list asks for the window in seconds; extend and remove post the items', async () => {
    const list = await sent('reviews', 'list', '--within', '7d');
    assert.equal(list.path, '/reviews');
    assert.equal(list.query.get('within'), String(7 * 86_400));
    server.requests.length = 0;
    const extend = await sent(
      'reviews',
      'extend',
      'beta:role.readers/alpha.api',
      'pay:writers/pay.ci',
      '--review-by',
      '90d',
      '--expires-at',
      'never',
      '--reason',
      'reviewed',
    );
    assert.deepEqual(pick(extend), [
      'POST',
      '/reviews',
      {
        items: [
          { domain: 'beta', role: 'readers', principal: 'alpha.api' },
          { domain: 'pay', role: 'writers', principal: 'pay.ci' },
        ],
        action: 'extend',
        reviewBy: new Date(NOW + 90 * 86_400_000).toISOString(),
        expiresAt: null,
        reason: 'reviewed',
      },
    ]);
    server.requests.length = 0;
    const remove = await sent('reviews', 'remove', 'beta:role.readers/alpha.api');
    assert.deepEqual(remove.body, { items: [{ domain: 'beta', role: 'readers', principal: 'alpha.api' }], action: 'remove' });
    server.requests.length = 0;
    for (const argv of [
      ['reviews', 'extend', 'beta:role.readers/alpha.api'],
      ['reviews', 'remove', 'beta:role.readers'],
      ['reviews', 'remove'],
      ['reviews', 'list', '--within', 'a while'],
    ]) {
      const refused = await admin(...argv);
      assert.equal(refused.code, 2, `${argv.join(' ')}: ${refused.stderr}`);
    }
    assert.equal(server.adminRequests().length, 0);
  });

  it('approvals list, approve and reject address the change', async () => {
    assert.deepEqual(pick(await sent('approvals', 'list', 'pay')), ['GET', '/domains/pay/approvals', undefined]);
    server.requests.length = 0;
    const approve = await sent('approvals', 'approve', 'chg_0123456789abcdef', '--reason', 'checked');
    assert.deepEqual(pick(approve), ['POST', '/approvals/chg_0123456789abcdef/approve', { reason: 'checked' }]);
    server.requests.length = 0;
    const reject = await sent('approvals', 'reject', 'chg_0123456789abcdef');
    assert.deepEqual(pick(reject), ['POST', '/approvals/chg_0123456789abcdef/reject', {}]);
  });

  it('signing-keys rotate posts to the rotation endpoint', async () => {
    assert.deepEqual(pick(await sent('signing-keys', 'rotate')), ['POST', '/signing-keys/rotate', {}]);
  });

  it('audit list passes its filters as query parameters', async () => {
    const req = await sent('audit', 'list', '--principal', 'alpha.api', '--type', 'service.create', '--since', '24h', '--limit', '5');
    assert.equal(req.path, '/audit');
    assert.deepEqual(Object.fromEntries(req.query), {
      principal: 'alpha.api',
      type: 'service.create',
      since: '2029-12-31T00:00:00.000Z',
      limit: '5',
    });
  });

  it("audit list --domain reads the domain's timeline, narrowed by --target", async () => {
    const req = await sent('audit', 'list', '--domain', 'alpha', '--target', 'alpha:role.readers', '--type', 'role.put');
    assert.equal(req.path, '/domains/alpha/audit');
    assert.deepEqual(Object.fromEntries(req.query), { target: 'alpha:role.readers', type: 'role.put', limit: '100' });
  });

  it('audit list refuses --principal with --domain, and --target without it', async () => {
    const both = await admin('audit', 'list', '--domain', 'alpha', '--principal', 'alpha.api');
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /--principal reads the whole log; with --domain, narrow with --target instead/);
    const alone = await admin('audit', 'list', '--target', 'alpha.api');
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--target needs --domain/);
    assert.equal(server.adminRequests().length, 0);
  });

  it('callers list and series address the domain and pass --since and --principal', async () => {
    const list = await sent('callers', 'list', 'beta', '--since', '7d', '--limit', '5');
    assert.equal(list.path, '/domains/beta/callers');
    assert.deepEqual(Object.fromEntries(list.query), { since: '2029-12-25T00:00:00.000Z', limit: '5' });
    server.requests.length = 0;
    const series = await sent('callers', 'series', 'beta', '--principal', 'alpha.api');
    assert.equal(series.path, '/domains/beta/callers/series');
    assert.deepEqual(Object.fromEntries(series.query), { principal: 'alpha.api' });
  });

  it('callers list prints principal, actor, roles and counts as a table', async () => {
    const callers = [
      {
        principal: 'alpha.api',
        actor: null,
        roles: ['readers', 'writers'],
        count: 12,
        firstSeen: '2029-12-30T10:00:00.000Z',
        lastSeen: '2029-12-31T10:00:00.000Z',
      },
      { principal: 'alpha.web', actor: 'gw.edge', roles: ['readers'], count: 3, firstSeen: '2029-12-31T09:00:00.000Z', lastSeen: '2029-12-31T09:30:00.000Z' },
    ];
    server.answer('GET /domains/beta/callers', { status: 200, body: { since: '2029-12-02T00:00:00.000Z', callers, nextCursor: null } });
    const table = await admin('callers', 'list', 'beta');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    assert.match(lines[0]!, /^principal\s+actor\s+roles\s+count\s+firstSeen\s+lastSeen$/);
    assert.match(lines[1]!, /^alpha\.api\s+-\s+readers,writers\s+12\s+2029-12-30T10:00:00\.000Z/);
    assert.match(lines[2]!, /^alpha\.web\s+gw\.edge\s+readers\s+3\s+/);
  });

  it('prints lists as a table, and the raw answer with --json', async () => {
    const domains = [
      { name: 'alpha', description: 'Alpha team', createdAt: '2030-01-01T00:00:00.000Z', updatedAt: 'x' },
      { name: 'sys.auth', description: null, createdAt: '2029-01-01T00:00:00.000Z', updatedAt: 'x' },
    ];
    server.answer('GET /domains', { status: 200, body: { domains } });
    const table = await admin('domain', 'list');
    assert.equal(
      table.stdout,
      ['name      description  createdAt', 'alpha     Alpha team   2030-01-01T00:00:00.000Z', 'sys.auth  -            2029-01-01T00:00:00.000Z', ''].join('\n'),
    );
    const json = await admin('domain', 'list', '--json');
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.stdout), { domains });
  });

  it('rejects a principal without a dot before connecting', async () => {
    const result = await admin('service', 'get', 'nodot');
    assert.equal(result.code, 2);
    assert.equal(result.stderr.split('\n').length, 2, 'one line');
    assert.match(result.stderr, /expected <domain>\.<service>/);
    assert.equal(server.requests.length, 0);
  });
});

function pick(req: RecordedRequest): [string, string, unknown] {
  return [req.method, req.path, req.body];
}

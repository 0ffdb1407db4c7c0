// `tessera admin … list` against a real server holding more than a page: every page is
// followed (or only the first --limit entries fetched), and `member add-many` adds in bulk.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

import { runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';

const names = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
const by = { actor: 'test' };

describe('tessera admin lists against a real server', () => {
  let t: TestServer;
  let dataDir: string;
  let cwd: string;
  let connection: string[];

  const admin = (...argv: string[]): Promise<CliResult> =>
    runCli(['admin', ...argv, ...connection, '--credentials', path.join(dataDir, 'bootstrap-admin.json')], { cwd });
  const listed = async (field: string, ...argv: string[]): Promise<Record<string, unknown>[]> => {
    const result = await admin(...argv, '--json');
    assert.equal(result.code, 0, `tessera admin ${argv.join(' ')}: ${result.stderr}`);
    return (JSON.parse(result.stdout) as Record<string, Record<string, unknown>[]>)[field]!;
  };

  before(async () => {
    t = await startTestServer();
    dataDir = t.dataDir;
    cwd = await mkdtemp(path.join(tmpdir(), 'tessera-lists-e2e-cwd-'));
    connection = ['--server', t.url, '--cacert', path.join(dataDir, 'ca.pem')];
    // More than two pages of the server's default 100, made straight in the store.
    for (const name of names(230, 'd')) await t.server.store.createDomain({ name }, by);
    for (const name of names(1100, 's')) await t.server.store.createService({ domain: 'd0000', name }, {}, by);
    for (const name of names(150, 'r')) await t.server.store.putRole('d0000', name, undefined, by);
  });
  after(async () => {
    await t?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it("domain, service and role list show every entry, following the server's pages", async () => {
    const domains = await listed('domains', 'domain', 'list');
    assert.deepEqual(
      domains.map((d) => d.name),
      [...names(230, 'd'), 'sys.auth'],
    );
    const services = await listed('services', 'service', 'list', 'd0000');
    assert.deepEqual(
      services.map((s) => s.name),
      names(1100, 's'),
    );
    const roles = await listed('roles', 'role', 'list', 'd0000');
    assert.deepEqual(
      roles.map((r) => r.name),
      names(150, 'r'),
    );
  });

  it('--limit fetches only the first entries', async () => {
    assert.deepEqual(
      (await listed('domains', 'domain', 'list', '--limit', '3')).map((d) => d.name),
      names(3, 'd'),
    );
    assert.equal((await listed('services', 'service', 'list', 'd0000', '--limit', '1001')).length, 1001);
    const bad = await admin('domain', 'list', '--limit', '0');
    assert.equal(bad.code, 2, bad.stderr);
  });

  it('member add-many adds in bulk, a request a thousand; member list and role get show every member', async () => {
    const file = names(1500, 'p.m').map((principal, i) => (i === 0 ? `${principal}@2031-01-01T00:00:00Z # the first` : principal));
    await writeFile(path.join(cwd, 'members.txt'), `${file.join('\n')}\n\n`);
    const added = await admin('member', 'add-many', 'd0000:role.r0000', 'x.first', 'x.second@90d', '--file', 'members.txt', '--json');
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(JSON.parse(added.stdout), { created: 1502, updated: 0, joinTokensVoided: 0 });
    const members = await listed('members', 'member', 'list', 'd0000:role.r0000');
    assert.equal(members.length, 1502);
    assert.deepEqual(members[0], { principal: 'p.m0000', expiresAt: '2031-01-01T00:00:00.000Z', reviewBy: null });
    const role = await admin('role', 'get', 'd0000:role.r0000', '--json');
    const shown = JSON.parse(role.stdout) as { members: unknown[]; membersNextCursor?: unknown };
    assert.equal(shown.members.length, 1502);
    assert.equal(shown.membersNextCursor, undefined);
    const roles = await listed('roles', 'role', 'list', 'd0000', '--limit', '1');
    assert.equal((roles[0]!.members as unknown[]).length, 1502);

    const none = await admin('member', 'add-many', 'd0000:role.r0000');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no members given/);
    const bad = await admin('member', 'add-many', 'd0000:role.r0000', 'x.y@not-a-time');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /member "x\.y@not-a-time"/);
  });
});

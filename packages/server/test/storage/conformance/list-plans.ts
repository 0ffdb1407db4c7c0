// Plans of the token path's membership lookups and of the admin lists' pages, over a domain of
// 10,000 memberships: each must go to its rows through an index, never walk a domain's members
// or sort a whole list, on both databases and whatever their statistics say.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { SqlDriver } from '../../../src/storage/drivers/driver.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';
import { planNodes, recordingDriver, type PlanNode, type Statement } from './query-plans.ts';

// 10,000 members of big:role.readers, and the same principals in a few roles of other domains.
const FILLER_MEMBERS = `
  INSERT INTO role_members (domain, role, principal, expires_at)
  WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
  SELECT 'big', 'readers', 'm.s' || i, NULL FROM n`;

// 20,000 audit events of 10 types: the audit log is the longest list.
const FILLER_AUDIT = `
  INSERT INTO audit_events (at, actor, type, target, before_json, after_json)
  WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  SELECT i, 'filler', 'filler.' || (i % 10), 'x', 'null', 'null' FROM n`;

// 20,000 token requests' events from 50 clients: each names its client as actor and target, and no domain.
const TOKEN_AUDIT = `
  INSERT INTO audit_events (at, actor, type, target, before_json, after_json)
  WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  SELECT i, 'c.' || (i % 50), 'token.issued', 'c.' || (i % 50), 'null', 'null' FROM n`;

/** SQLite's plan of the statement, one line a step. */
async function sqlitePlan(driver: SqlDriver, statement: Statement): Promise<string[]> {
  const plan = await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.params);
  return plan.map((row) => row.detail);
}

/** PostgreSQL's plan of the statement, as nodes; with `seqScanLast`, a sequential scan only where nothing else can. */
function postgresPlan(driver: SqlDriver, statement: Statement, seqScanLast = false): Promise<PlanNode[]> {
  return driver.transaction(async (tx) => {
    if (seqScanLast) await tx.exec('SET LOCAL enable_seqscan = off');
    const [row] = await tx.all<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${statement.sql}`, statement.params);
    return row ? planNodes(row['QUERY PLAN'][0].Plan) : [];
  });
}

/**
 * The statement reaches its rows through indexes: no scan of a table (SQLite's SCAN, PostgreSQL's
 * Seq Scan with sequential scans made the last resort), and, unless `sorts`, no sort either.
 */
async function assertIndexedPlan(driver: SqlDriver, statement: Statement, { sorts }: { sorts: boolean }): Promise<void> {
  if (driver.dialect === 'sqlite') {
    const plan = await sqlitePlan(driver, statement);
    const refused = sorts ? /^SCAN / : /USE TEMP B-TREE FOR ORDER BY|^SCAN /;
    assert.ok(!plan.some((step) => refused.test(step)), `${statement.sql}\n${plan.join('\n')}`);
    return;
  }
  const nodes = await postgresPlan(driver, statement, true);
  const described = JSON.stringify(nodes.map((node) => [node['Node Type'], node['Relation Name'], node['Index Name']]));
  const refused = (type: string | undefined): boolean => type === 'Seq Scan' || (!sorts && type === 'Sort');
  assert.ok(!nodes.some((node) => refused(node['Node Type'])), `${statement.sql}\n${described}`);
}

/** The statements `call` sends. */
async function statementsOf(driver: SqlDriver, call: (store: SqlStore) => Promise<unknown>): Promise<Statement[]> {
  const recording = recordingDriver(driver);
  await call(new SqlStore(recording.driver));
  return recording.statements;
}

export function listPlans(harness: StoreHarness): void {
  describe('query plans at 10,000 memberships', () => {
    storeTest(harness, "finds a principal's roles through role_members_by_principal, before and after ANALYZE", async (store, driver) => {
      await store.createDomain({ name: 'big' }, admin);
      await store.createDomain({ name: 'other' }, admin);
      await store.putRole('big', 'readers', undefined, admin);
      await store.putRole('big', 'writers', [{ principal: 'm.s5000', expiresAt: null }], admin);
      await store.putRole(
        'other',
        'readers',
        [
          { principal: 'm.s5000', expiresAt: null },
          { principal: 'other.x', expiresAt: null },
        ],
        admin,
      );
      await driver.exec(FILLER_MEMBERS);
      const now = Date.now();
      const lookups = [
        (s: SqlStore) => s.rolesHeld('m.s5000', ['big'], now),
        (s: SqlStore) => s.rolesHeld('m.s5000', ['big', 'other'], now),
        (s: SqlStore) => s.rolesHeld('other.x', ['big'], now),
        (s: SqlStore) => s.membershipsOf('m.s5000'),
      ];
      assert.deepEqual(
        (await store.rolesHeld('m.s5000', ['big', 'other'], now)).map((r) => `${r.domain}:${r.role}`),
        ['big:readers', 'big:writers', 'other:readers'],
      );
      assert.deepEqual(await store.rolesHeld('other.x', ['big'], now), []);
      assert.equal((await store.membershipsOf('m.s5000')).length, 3);
      for (const analyzed of [false, true]) {
        if (analyzed) await driver.exec('ANALYZE');
        for (const lookup of lookups) {
          const [statement] = (await statementsOf(driver, lookup)).filter(({ sql }) => /\brole_members\b/.test(sql));
          assert.ok(statement);
          if (driver.dialect === 'sqlite') {
            const plan = await sqlitePlan(driver, statement);
            const members = plan.filter((step) => /^(SCAN|SEARCH) m\b|role_members/.test(step));
            assert.equal(members.length, 1, plan.join('\n'));
            assert.match(members[0]!, /^SEARCH (m|role_members) USING (COVERING )?INDEX role_members_by_principal \(principal=\?/, plan.join('\n'));
            // The members are the outer loop: no step before them scans another table.
            assert.ok(!plan.some((step) => /^SCAN /.test(step)), plan.join('\n'));
          } else {
            // PostgreSQL, whose plans follow its statistics: each read of role_members is keyed by
            // the principal, through its index or as a point lookup of the primary key (a role
            // and principal of a domain), never a walk of a domain's range.
            const nodes = await postgresPlan(driver, statement);
            const onMembers = nodes.filter((node) => node['Relation Name'] === 'role_members' || /^role_members/.test(node['Index Name'] ?? ''));
            const described = JSON.stringify(nodes.map((node) => [node['Node Type'], node['Index Name'], node['Index Cond']]));
            assert.ok(onMembers.length > 0, described);
            for (const node of onMembers) {
              if (node['Node Type'] === 'Bitmap Heap Scan') continue;
              const cond = node['Index Cond'] ?? '';
              const keyed = node['Index Name'] === 'role_members_by_principal' ? /\(principal = / : /\(role = .*\(principal = /;
              assert.match(cond, keyed, described);
            }
          }
        }
      }
    });

    storeTest(harness, "finds a principal's, a target's and a domain's audit events through indexes, among 20,000 token requests", async (store, driver) => {
      await store.createDomain({ name: 'big' }, admin);
      await store.createService({ domain: 'big', name: 'api', accountId: 'svc_api' }, {}, admin);
      await driver.exec(TOKEN_AUDIT);
      await driver.exec('ANALYZE');
      const queries = [
        (s: SqlStore) => s.queryAudit({ limit: 101, principal: 'big.api' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, principal: 'c.7' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, target: 'big.api' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, target: 'c.7' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, principal: 'c.7', target: 'big.api' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, domain: 'big' }),
        (s: SqlStore) => s.queryAudit({ limit: 101, domain: 'big', target: 'big.api' }),
      ];
      assert.equal((await store.queryAudit({ limit: 1000, principal: 'c.7' })).length, 400);
      assert.equal((await store.queryAudit({ limit: 1000, target: 'c.7' })).length, 400);
      for (const query of queries) {
        for (const statement of await statementsOf(driver, query)) await assertIndexedPlan(driver, statement, { sorts: true });
      }
    });

    storeTest(harness, 'reads each page of a list from where the last ended, without sorting the whole list', async (store, driver) => {
      await store.createDomain({ name: 'big' }, admin);
      await store.putRole('big', 'readers', undefined, admin);
      await store.createService({ domain: 'big', name: 'api', accountId: 'svc_api' }, {}, admin);
      await driver.exec(FILLER_MEMBERS);
      await driver.exec(FILLER_AUDIT);
      await driver.exec('ANALYZE');
      const now = Date.now();
      const pages = [
        (s: SqlStore) => s.listDomains({ limit: 101, after: 'a' }),
        (s: SqlStore) => s.listDomains({ limit: 101, after: 'a', names: ['big', 'x'] }),
        (s: SqlStore) => s.listServices('big', { limit: 101, after: 'a' }),
        (s: SqlStore) => s.listRoles('big', { limit: 101, after: 'a', memberLimit: 101 }),
        (s: SqlStore) => s.getRole('big', 'readers', 101),
        (s: SqlStore) => s.listRoleMembers('big', 'readers', { limit: 101, after: 'm.s5000' }),
        (s: SqlStore) => s.listApiKeys('big.api', { limit: 101, after: { createdAt: now, id: 'k' } }),
        (s: SqlStore) => s.listCertificates('big.api', { limit: 101, after: { issuedAt: now, serial: '05' }, now }),
        (s: SqlStore) => s.listServiceAccounts({ limit: 101, after: { createdAt: now, id: 'big.api' } }),
        (s: SqlStore) => s.queryAudit({ limit: 101, after: { at: 15_000, id: 15_003 } }),
        (s: SqlStore) => s.queryAudit({ limit: 101, type: 'filler.3', after: { at: 15_000, id: 15_003 } }),
      ];
      for (const page of pages) {
        // A whole sort reads every matching row before the first is returned; a SCAN, even of an
        // index in order, starts at the list's beginning rather than where the page does.
        for (const statement of await statementsOf(driver, page)) await assertIndexedPlan(driver, statement, { sorts: false });
      }
    });
  });
}

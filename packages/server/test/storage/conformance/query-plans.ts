// The certificate and join-token tables grow with every issuance and bootstrap: each query on
// them must find its rows through an index, never by reading the whole table. Checked on the
// statements the store really sends, with each database's own planner (PostgreSQL told to
// avoid sequential scans wherever an index could serve, as it would on a large table).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { SqlDriver, SqlExecutor, SqlValue } from '../../../src/storage/drivers/driver.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

export interface Statement {
  sql: string;
  params: readonly SqlValue[];
}

// 20,000 certificates of 100 services, each renewal chain 50 long.
const FILLER_CERTIFICATES = `
  INSERT INTO certificates (serial, principal, thumbprint, ca_id, not_before, not_after, issued_at, renewed_from)
  WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  SELECT 'f' || i, 'filler.s' || (i % 100), 't', 'ca-0', i, i, i, CASE WHEN i % 50 = 0 THEN NULL ELSE 'f' || (i - 1) END FROM n`;

const GROWING_TABLES = /^(certificates|join_tokens)$/;

export function recordingDriver(driver: SqlDriver): { driver: SqlDriver; statements: Statement[] } {
  const statements: Statement[] = [];
  const wrap = (executor: SqlExecutor): SqlExecutor => ({
    all: <T>(sql: string, params: readonly SqlValue[] = []) => (statements.push({ sql, params }), executor.all<T>(sql, params)),
    get: <T>(sql: string, params: readonly SqlValue[] = []) => (statements.push({ sql, params }), executor.get<T>(sql, params)),
    run: (sql: string, params: readonly SqlValue[] = []) => (statements.push({ sql, params }), executor.run(sql, params)),
    exec: (sql: string) => (statements.push({ sql, params: [] }), executor.exec(sql)),
  });
  const recorded: SqlDriver = {
    ...wrap(driver),
    dialect: driver.dialect,
    transaction: (fn, options) => driver.transaction((tx) => fn(wrap(tx)), options),
    close: () => driver.close(),
  };
  return { driver: recorded, statements };
}

/** The steps of the statement's plan that read one of the growing tables in full. */
function fullReads(driver: SqlDriver, statement: Statement): Promise<string[]> {
  return driver.transaction(async (tx) => {
    if (driver.dialect === 'sqlite') {
      // SCAN is a full pass, over the table or over one of its indexes; SEARCH uses a key.
      const plan = await tx.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.params);
      return plan.map((row) => row.detail).filter((detail) => /^SCAN (certificates|join_tokens)\b/.test(detail));
    }
    await tx.exec('SET LOCAL enable_seqscan = off');
    const [row] = await tx.all<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${statement.sql}`, statement.params);
    const problems: string[] = [];
    for (const node of row ? planNodes(row['QUERY PLAN'][0].Plan) : []) {
      const problem = await postgresFullRead(tx, node);
      if (problem !== null) problems.push(problem);
    }
    return problems;
  });
}

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

export function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

// With sequential scans discouraged, PostgreSQL may walk a whole index instead: an index scan
// that constrains no leading column reads every entry all the same.
async function postgresFullRead(tx: SqlExecutor, node: PlanNode): Promise<string | null> {
  const type = node['Node Type'];
  if (type === 'Seq Scan') return GROWING_TABLES.test(node['Relation Name'] ?? '') ? `${type} on ${node['Relation Name']}` : null;
  const index = node['Index Name'];
  if (index === undefined) return null;
  const definition = await tx.get<{ def: string }>('SELECT pg_get_indexdef(CAST(? AS regclass)) AS def', [index]);
  const [, table = '', leading = ''] = /ON (?:\w+\.)?(\w+) USING \w+ \((\w+)/.exec(definition?.def ?? '') ?? [];
  if (!GROWING_TABLES.test(table)) return null;
  return new RegExp(`\\(${leading} `).test(node['Index Cond'] ?? '') ? null : `${type} of all of ${index}`;
}

export function queryPlans(harness: StoreHarness): void {
  describe('query plans', () => {
    storeTest(harness, 'reads and changes certificates and join tokens through indexes only', async (_store, driver) => {
      const recording = recordingDriver(driver);
      const store = new SqlStore(recording.driver);
      const now = Date.now();
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      await store.initCa({ id: 'ca-1', state: 'active', chainPem: 'C', rootPem: 'R', sealedPrivateKey: 'S', createdAt: now });
      await store.recordCertificate(
        { serial: '01', principal: 'alpha.api', thumbprint: 't', caId: 'ca-1', notBefore: now, notAfter: now + 1000, issuedAt: now, renewedFrom: null },
        admin,
      );
      await store.recordCertificate(
        { serial: '02', principal: 'alpha.api', thumbprint: 't2', caId: 'ca-1', notBefore: now, notAfter: now + 1000, issuedAt: now, renewedFrom: '01' },
        admin,
      );
      await store.getCertificate('01');
      await store.getCertificateByThumbprint('t');
      await store.listCertificates('alpha.api', { limit: 10, now });
      await store.listCertificates('alpha.api', { limit: 10, now, after: { issuedAt: now, serial: '02' }, status: 'active' });
      await store.revokeCertificate('01', 'keyCompromise', admin);
      await store.revokeServiceCertificates('alpha.api', 'keyCompromise', admin);
      await store.listRevokedCertificates(now);
      await store.transitionCa('ca-1', 'active', 'old');
      await store.removeCa('ca-1');
      await store.createJoinToken({ id: 'jt-1', principal: 'alpha.api', hash: 'h', expiresAt: now + 1000 }, admin);
      await store.consumeJoinToken('jt-1', 'h', now);
      await store.deleteService('alpha.api', admin);

      const checked = recording.statements.filter(({ sql }) => /\b(certificates|join_tokens)\b/.test(sql) && !/^\s*INSERT\b/i.test(sql));
      // The lookups (by serial, by thumbprint), the revocation, the CRL, the CA's check, the use, the prune, the delete.
      assert.ok(checked.length >= 9, `only ${checked.length} statements checked`);
      // A planner judges a join by the tables' sizes: on a near-empty table PostgreSQL may
      // merge-join through a whole index, as it never would on a CA's real table. So the
      // statements are planned over the rows (and renewal chains) a CA accumulates.
      await driver.exec(FILLER_CERTIFICATES);
      await driver.exec('ANALYZE');
      for (const statement of checked) {
        assert.deepEqual(await fullReads(driver, statement), [], statement.sql);
      }
    });
  });
}

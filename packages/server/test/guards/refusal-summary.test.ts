// Refusals before authentication are summed up per endpoint, reason and address for each
// interval instead of being stored one by one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewAuditEvent } from '../../src/guards/audit-writer.ts';
import { OTHER_ADDRESSES, SUMMARY_TYPE, createRefusalSummaries } from '../../src/guards/refusal-summary.ts';
import type { TokenOutcome } from '../../src/oauth2/client-guard.ts';

const T0 = 1_700_000_000_000;

function refused(overrides: Partial<TokenOutcome> = {}): TokenOutcome {
  return {
    endpoint: 'token',
    at: T0,
    clientIp: '192.0.2.1',
    claimedClientId: 'alpha.api',
    principal: undefined,
    method: undefined,
    requestedScope: 'beta:domain',
    result: 'AUTH_101',
    status: 401,
    ...overrides,
  };
}

function summaries(maxKeys?: number) {
  const written: NewAuditEvent[] = [];
  const summary = createRefusalSummaries({ audit: { write: (e) => written.push(e) }, intervalMs: 60_000, maxKeys });
  return { summary, written };
}

describe('refusal summaries', () => {
  it('writes one row per endpoint, reason and address, with the count, the time span and a few claimed client ids', () => {
    const { summary, written } = summaries();
    for (let i = 0; i < 1000; i++) summary.observe(refused({ at: T0 + i, claimedClientId: `alpha.guess${i % 5}` }));
    for (let i = 0; i < 20; i++) summary.observe(refused({ result: 'AUTH_106', status: 429, claimedClientId: undefined }));
    summary.observe(refused({ endpoint: 'introspect', clientIp: '198.51.100.7' }));
    assert.equal(written.length, 0, 'nothing is written per request');
    summary.close();
    assert.deepEqual(
      written.map((e) => [e.type, e.actor, e.target, e.at, e.after]),
      [
        [
          SUMMARY_TYPE,
          'system',
          'ip:192.0.2.1',
          T0 + 999,
          {
            endpoint: 'token',
            clientIp: '192.0.2.1',
            addresses: ['192.0.2.1'],
            result: 'AUTH_101',
            status: 401,
            count: 1000,
            from: T0,
            to: T0 + 999,
            clientIds: ['alpha.guess0', 'alpha.guess1', 'alpha.guess2'],
          },
        ],
        [
          SUMMARY_TYPE,
          'system',
          'ip:192.0.2.1',
          T0,
          {
            endpoint: 'token',
            clientIp: '192.0.2.1',
            addresses: ['192.0.2.1'],
            result: 'AUTH_106',
            status: 429,
            count: 20,
            from: T0,
            to: T0,
            clientIds: [],
          },
        ],
        [
          SUMMARY_TYPE,
          'system',
          'ip:198.51.100.7',
          T0,
          {
            endpoint: 'introspect',
            clientIp: '198.51.100.7',
            addresses: ['198.51.100.7'],
            result: 'AUTH_101',
            status: 401,
            count: 1,
            from: T0,
            to: T0,
            clientIds: ['alpha.api'],
          },
        ],
      ],
    );
  });

  it('ignores outcomes of proven clients and successes: those are audited one by one', () => {
    const { summary, written } = summaries();
    summary.observe(refused({ principal: 'alpha.api', result: 'AUTH_103' }));
    summary.observe(refused({ principal: 'alpha.api', result: 'issued', status: 200 }));
    summary.close();
    assert.deepEqual(written, []);
  });

  it('starts afresh after each flush', () => {
    const { summary, written } = summaries();
    summary.observe(refused());
    summary.flush();
    summary.observe(refused({ at: T0 + 60_000 }));
    summary.close();
    assert.deepEqual(
      written.map((e) => (e.after as { count: number; from: number }).from),
      [T0, T0 + 60_000],
    );
  });

  it('counts an IPv6 caller by its /64, as the limits do: rotating through the prefix makes one row', () => {
    const { summary, written } = summaries();
    for (let i = 1; i <= 300; i++) summary.observe(refused({ clientIp: `2001:db8:0:1::${i.toString(16)}`, result: 'AUTH_106', status: 429 }));
    summary.observe(refused({ clientIp: '::ffff:192.0.2.9' }));
    assert.equal(summary.trackedKeys, 2);
    summary.close();
    assert.deepEqual(
      written.map((e) => [e.target, (e.after as { count: number }).count, (e.after as { addresses: string[] }).addresses]),
      [
        ['ip:2001:db8:0:1::/64', 300, ['2001:db8:0:1::1', '2001:db8:0:1::2', '2001:db8:0:1::3']],
        ['ip:192.0.2.9', 1, ['::ffff:192.0.2.9']],
      ],
    );
  });

  it('sums addresses beyond maxKeys under "*", so made-up addresses cannot grow memory or rows', () => {
    const { summary, written } = summaries(3);
    for (let i = 0; i < 500; i++) summary.observe(refused({ clientIp: `10.0.${i >> 8}.${i & 255}` }));
    assert.equal(summary.trackedKeys, 4);
    summary.close();
    assert.equal(written.length, 4);
    const other = written.find((e) => (e.after as { clientIp: string }).clientIp === OTHER_ADDRESSES);
    assert.equal((other?.after as { count: number }).count, 497);
  });

  it('clips and cleans caller text kept in a summary', () => {
    const { summary, written } = summaries();
    summary.observe(refused({ claimedClientId: `alpha.a\u0000b${'c'.repeat(5000)}`, clientIp: 'x'.repeat(500) }));
    summary.close();
    const after = written[0]!.after as { clientIds: string[]; clientIp: string };
    assert.ok(after.clientIds[0]!.startsWith('alpha.a\uFFFDb') && after.clientIds[0]!.length <= 260);
    assert.ok(after.clientIp.length <= 70);
  });
});

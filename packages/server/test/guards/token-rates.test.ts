// Token rates counted from an audit batch: issued tokens, refusals after authentication by their
// result, and the counts of the summaries of refusals before it, per hour and endpoint.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewAuditEvent } from '../../src/guards/audit-writer.ts';
import { tokenRateCounts } from '../../src/guards/token-rates.ts';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);
const event = (type: string, at: number, after: unknown): NewAuditEvent => ({ at, actor: 'alpha.api', type, target: 'alpha.api', before: null, after });

describe('token rates from an audit batch', () => {
  it('counts issued tokens, refusals by result and summaries by their count, per hour and endpoint', () => {
    const counts = tokenRateCounts([
      event('token.issued', T0 + 1, { result: 'issued', grantedScope: 'beta:role.readers' }),
      event('token.issued', T0 + 2, { result: 'issued', reused: true }),
      event('token.issued', T0 + HOUR, { result: 'issued' }),
      event('token.refused', T0 + 3, { result: 'invalid_scope', status: 400 }),
      event('introspect.refused', T0 + 4, { result: 'AUTH_106', status: 429 }),
      event('revoke.refused', T0 + 5, { result: 'unauthorized_client', status: 400 }),
      event('token.refused.summary', T0 + 6, { endpoint: 'token', result: 'invalid_client', count: 7 }),
      event('token.refused.summary', T0 + 7, { endpoint: 'revoke', result: 'invalid_client', count: 2 }),
      event('token.refused.summary', T0 + 8, { endpoint: 'token', result: 'invalid_client', count: 1 }),
      // Not counted: other events, and summaries that are not well formed.
      event('token.revoke', T0 + 9, { jti: 'x' }),
      event('alert.auth-failures', T0 + 9, { count: 50 }),
      event('token.refused.summary', T0 + 9, { endpoint: 'elsewhere', result: 'x', count: 3 }),
      event('token.refused.summary', T0 + 9, { endpoint: 'token', result: 'x', count: -3 }),
      event('token.refused', T0 + 10, { result: 'issued' }),
    ]);
    const sorted = counts.map((c) => `${(c.hour - T0) / HOUR} ${c.endpoint} ${c.outcome} ${c.count}`).sort();
    assert.deepEqual(sorted, [
      '0 introspect AUTH_106 1',
      '0 revoke invalid_client 2',
      '0 revoke unauthorized_client 1',
      '0 token invalid_client 8',
      '0 token invalid_scope 1',
      '0 token issued 2',
      '0 token unknown 1',
      '1 token issued 1',
    ]);
  });
});

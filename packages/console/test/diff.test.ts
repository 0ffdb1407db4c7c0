// What the timeline shows of an audit event's before and after (web/diff.ts), outside a browser.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeType, diffLines } from '../web/diff.ts';

describe('console timeline diffs', () => {
  it('names each changed field with its old and new value, and skips the unchanged and the bookkeeping', () => {
    assert.deepEqual(
      diffLines(
        { status: 'ACTIVE', description: 'x', allowedIps: [], updatedAt: 1 },
        { status: 'DISABLED', description: 'x', allowedIps: ['10.0.0.0/8'], updatedAt: 2 },
      ),
      [
        { field: 'status', before: 'ACTIVE', after: 'DISABLED' },
        { field: 'allowedIps', before: '(none)', after: '10.0.0.0/8' },
      ],
    );
  });

  it('shows a creation as the fields it set, and a deletion as those going to none, without the empty ones', () => {
    assert.deepEqual(diffLines(null, { name: 'api', expiresAt: null, allowedIps: [], memberCount: 0, createdAt: 5, idTokenSubjects: false }), [
      { field: 'name', after: 'api' },
    ]);
    assert.deepEqual(diffLines({ name: 'api', description: null }, null), [{ field: 'name', before: 'api', after: '(none)' }]);
  });

  it('writes times of fields ending in At, in ms or ISO 8601, as UTC minutes', () => {
    assert.deepEqual(diffLines({ expiresAt: null }, { expiresAt: Date.parse('2030-01-01T00:00:00Z') }), [
      { field: 'expiresAt', before: '(none)', after: '2030-01-01 00:00 UTC' },
    ]);
    assert.deepEqual(diffLines({ notAfter: 5 }, { notAfter: 6, endedAt: '2031-02-03T04:05:06.000Z' }), [
      { field: 'notAfter', before: '5', after: '6' },
      { field: 'endedAt', after: '2031-02-03 04:05 UTC' },
    ]);
  });

  it('compares nested values by their JSON and writes them as JSON', () => {
    const lines = diffLines({ added: [{ principal: 'a.b', expiresAt: null }] }, { added: [{ principal: 'a.c', expiresAt: null }] });
    assert.deepEqual(lines, [{ field: 'added', before: '[{"principal":"a.b","expiresAt":null}]', after: '[{"principal":"a.c","expiresAt":null}]' }]);
    assert.deepEqual(diffLines({ a: { b: 1 } }, { a: { b: 1 } }), []);
  });

  it('reads a scalar before as one value', () => {
    assert.deepEqual(diffLines('x', 'y'), [{ field: 'value', before: 'x', after: 'y' }]);
  });

  it('writes an event type as words', () => {
    assert.equal(describeType('role-member.put-many'), 'role member put many');
    assert.equal(describeType('service.update'), 'service update');
  });
});

// Human-readable output of admin answers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatHuman } from '../src/output.ts';

describe('human output', () => {
  it('prints an object as aligned key: value lines, members as an indented table', () => {
    const text = formatHuman({
      domain: 'beta',
      name: 'readers',
      members: [
        { principal: 'alpha.api', expiresAt: null },
        { principal: 'gamma.jobs', expiresAt: '2031-01-01T00:00:00.000Z' },
      ],
      allowedIps: ['10.0.0.0/8', '::1/128'],
    });
    assert.equal(
      text,
      [
        'domain:      beta',
        'name:        readers',
        'members:',
        '  principal   expiresAt',
        '  alpha.api   -',
        '  gamma.jobs  2031-01-01T00:00:00.000Z',
        'allowedIps:  10.0.0.0/8,::1/128',
        '',
      ].join('\n'),
    );
  });

  it('reads an object as one item unless a list view is given', () => {
    const role = { name: 'readers', members: [{ principal: 'a.b' }] };
    assert.equal(formatHuman(role), 'name:     readers\nmembers:\n  principal\n  a.b\n');
    assert.equal(formatHuman({ domains: [{ name: 'x' }], next: 'c' }, { columns: ['name'] }), 'name\nx\nnext:  c\n');
  });

  it('prints a bare array as a table using the preferred columns', () => {
    const text = formatHuman([{ principal: 'a.b', status: 'ACTIVE', extra: 1 }], {
      columns: ['principal', 'status', 'missing'],
    });
    assert.equal(text, 'principal  status\na.b        ACTIVE\n');
  });

  it('says (none) for an empty list and nothing for an empty answer', () => {
    assert.equal(formatHuman({ services: [] }, { columns: ['principal'] }), '(none)\n');
    assert.equal(formatHuman(null), '');
  });

  it('prints multi-line strings as an indented block', () => {
    assert.equal(formatHuman({ pem: '-----BEGIN-----\nAAA\n-----END-----\n' }), 'pem:\n  -----BEGIN-----\n  AAA\n  -----END-----\n');
  });
});

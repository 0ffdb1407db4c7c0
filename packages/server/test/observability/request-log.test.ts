// Request log lines never carry a query value that could be a credential (observability/request-log.ts):
// the lists' and filters' parameters are kept, every other value is redacted, and a real server at
// trace level logs `DELETE /admin/v1/session?token=<jwt>` without the token.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestServer } from '@tessera/testkit/server';
import { loggableUrl } from '../../src/observability/request-log.ts';

describe('request log lines', () => {
  it('keeps the path, the names and the values of list and filter parameters; redacts every other value', () => {
    assert.equal(loggableUrl('/admin/v1/domains'), '/admin/v1/domains');
    assert.equal(loggableUrl('/admin/v1/domains?'), '/admin/v1/domains?');
    assert.equal(
      loggableUrl('/admin/v1/audit?limit=5&cursor=abc&type=role.put&since=2030-01-01'),
      '/admin/v1/audit?limit=5&cursor=abc&type=role.put&since=2030-01-01',
    );
    assert.equal(loggableUrl('/admin/v1/session?token=eyJ.a.b'), '/admin/v1/session?token=[redacted]');
    assert.equal(
      loggableUrl('/x?access_token=s3cret&limit=2&client_secret=x&code=c'),
      '/x?access_token=[redacted]&limit=2&client_secret=[redacted]&code=[redacted]',
    );
    assert.equal(loggableUrl('/x?%74oken=s3cret'), '/x?%74oken=[redacted]', 'an escaped name is judged decoded');
    assert.equal(loggableUrl('/x?flag&token=a=b'), '/x?flag&token=[redacted]');
    assert.equal(loggableUrl('/x?%E0%A4%A=v'), '/x?%E0%A4%A=[redacted]', 'a malformed escape is no name of ours');
  });

  it('a server at trace level logs a request with ?token= without the token', async () => {
    const lines: string[] = [];
    const t = await startTestServer({ flags: { logLevel: 'trace' }, logStream: { write: (text: string) => void lines.push(text) } });
    try {
      const token = await t.adminToken();
      const res = await t.send(`/admin/v1/session?token=${token}&limit=7`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 204, res.text);
      const log = lines.join('');
      assert.match(log, /\/admin\/v1\/session\?token=\[redacted\]&limit=7/);
      assert.ok(!log.includes(token), 'the token is in no log line');
      assert.ok(!log.includes(token.split('.')[1]!), 'nor any part of it');
    } finally {
      await t.stop();
    }
  });
});

// The audit event of one token request: who, from where, for what, what came of it, and never
// a secret or a token.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenAuditEvent, tokenAuditObserver } from '../../src/guards/token-audit.ts';
import type { NewAuditEvent } from '../../src/guards/audit-writer.ts';
import type { TokenOutcome } from '../../src/oauth2/token-service.ts';

const base: TokenOutcome = {
  endpoint: 'token',
  at: 1_700_000_000_000,
  clientIp: '192.0.2.1',
  claimedClientId: 'alpha.api',
  principal: undefined,
  method: undefined,
  requestedScope: 'beta:domain',
  result: 'AUTH_101',
  status: 401,
};

describe('token audit events', () => {
  it('records an issued token as token.issued by the proven principal, with its jti and granted scope', () => {
    const event = tokenAuditEvent({
      ...base,
      claimedClientId: 'f3a9-opaque-id',
      principal: 'alpha.api',
      method: 'client_secret_basic',
      result: 'issued',
      status: 200,
      grantedScope: 'beta:role.readers',
      jti: 'jti-1',
      reused: false,
    });
    assert.deepEqual(event, {
      at: base.at,
      actor: 'alpha.api',
      type: 'token.issued',
      target: 'alpha.api',
      before: null,
      after: {
        result: 'issued',
        status: 200,
        clientIp: '192.0.2.1',
        method: 'client_secret_basic',
        scope: 'beta:domain',
        grantedScope: 'beta:role.readers',
        jti: 'jti-1',
        reused: false,
      },
    });
  });

  it('records a refusal before authentication under the claimed client id, with no method', () => {
    const event = tokenAuditEvent(base);
    assert.equal(event.type, 'token.refused');
    assert.equal(event.actor, 'alpha.api');
    assert.equal(event.target, 'alpha.api');
    assert.deepEqual(event.after, { result: 'AUTH_101', status: 401, clientIp: '192.0.2.1', method: null, scope: 'beta:domain' });
  });

  it('records a caller that named no client as anonymous', () => {
    const event = tokenAuditEvent({ ...base, claimedClientId: undefined, requestedScope: undefined });
    assert.equal(event.actor, 'anonymous');
    assert.equal(event.target, 'anonymous');
    assert.equal((event.after as { scope: unknown }).scope, null);
  });

  it('records a refusal after authentication (AUTH_104) under the principal', () => {
    const event = tokenAuditEvent({ ...base, principal: 'alpha.fenced', method: 'client_secret_post', result: 'AUTH_104', status: 403 });
    assert.equal(event.actor, 'alpha.fenced');
    assert.equal((event.after as { method: string }).method, 'client_secret_post');
  });

  it('cuts caller text that could be arbitrarily long', () => {
    // The address too: a trusted proxy may pass on whatever X-Forwarded-For a client sent it.
    const event = tokenAuditEvent({ ...base, claimedClientId: 'c'.repeat(10_000), requestedScope: 's'.repeat(60_000), clientIp: 'x'.repeat(5000) });
    assert.ok(event.actor.length <= 260);
    assert.ok(JSON.stringify(event.after).length < 1200);
    assert.match((event.after as { scope: string }).scope, /^s{1024}…$/);
  });

  it('replaces control characters in caller text: NUL cannot be stored, a newline could forge a line', () => {
    const event = tokenAuditEvent({
      ...base,
      claimedClientId: 'alpha.a\u0000b\nforged\u009b\u2028',
      requestedScope: 'beta:domain\r\n\u001b[2J',
      clientIp: '192.0.2.1\u007f',
    });
    assert.equal(event.actor, 'alpha.a\uFFFDb\uFFFDforged\uFFFD\uFFFD');
    assert.deepEqual(event.after, { result: 'AUTH_101', status: 401, clientIp: '192.0.2.1\uFFFD', method: null, scope: 'beta:domain\uFFFD\uFFFD\uFFFD[2J' });
  });

  it('the observer writes issued tokens and refusals after authentication, and leaves refusals before it to the summaries', () => {
    const written: NewAuditEvent[] = [];
    const observer = tokenAuditObserver({ write: (e) => written.push(e) });
    const proven = { ...base, principal: 'alpha.api', method: 'client_secret_basic' };
    observer.observe(base);
    observer.observe({ ...base, result: 'AUTH_106', status: 429 });
    observer.observe({ ...proven, result: 'issued', status: 200 });
    observer.observe({ ...proven, result: 'AUTH_106', status: 429 });
    observer.observe({ ...proven, endpoint: 'introspect', result: 'answered', status: 200 });
    observer.observe({ ...proven, endpoint: 'introspect', result: 'AUTH_103', status: 401 });
    observer.observe({ ...proven, endpoint: 'revoke', result: 'revoked', status: 200 });
    assert.deepEqual(
      written.map((e) => `${e.type} ${(e.after as { result: string }).result}`),
      ['token.issued issued', 'token.refused AUTH_106', 'introspect.refused AUTH_103'],
    );
  });
});

// Every token request leaves an audit event, issued or refused: who asked (the proven principal,
// else the client id it claimed, else `anonymous`), from where, for what, and what it got. The
// outcome never holds a secret or a token, only the token's jti. Events go through the batch
// writer, so the request itself only appends to a buffer.

import type { TokenObserver, TokenOutcome } from '../oauth2/token-service.ts';
import type { AuditSink, NewAuditEvent } from './audit-writer.ts';
import { MAX_IP_LENGTH, MAX_KEY_LENGTH, MAX_SCOPE_LENGTH, clip } from './caller-text.ts';

export function tokenAuditObserver(sink: AuditSink): TokenObserver {
  return { observe: (outcome) => sink.write(tokenAuditEvent(outcome)) };
}

export function tokenAuditEvent(outcome: TokenOutcome): NewAuditEvent {
  const who = outcome.principal ?? clip(outcome.claimedClientId, MAX_KEY_LENGTH) ?? 'anonymous';
  const issued = outcome.result === 'issued';
  return {
    at: outcome.at,
    actor: who,
    type: issued ? 'token.issued' : 'token.refused',
    target: who,
    before: null,
    after: {
      result: outcome.result,
      status: outcome.status,
      clientIp: clip(outcome.clientIp, MAX_IP_LENGTH),
      // Null until the caller proved who it is: the actor is then only the id it claimed.
      method: outcome.method ?? null,
      scope: clip(outcome.requestedScope, MAX_SCOPE_LENGTH) ?? null,
      ...(issued ? { grantedScope: outcome.grantedScope ?? null, jti: outcome.jti ?? null, reused: outcome.reused ?? false } : {}),
    },
  };
}

// Token requests leave audit events: each issued token, and each request refused after the
// client proved who it is (its standing, its scope, its own rate limit), at the token endpoint
// or at introspection and revocation: who asked (the proven principal), from where, for what,
// and what it got. Refusals before authentication are a stranger's to multiply, so they are
// summed up instead (guards/refusal-summary.ts). A successful introspection is counted in the
// metrics only, and a revocation is audited by the store as the change it makes (`token.revoke`).
// The outcome never holds a secret or a token, only the token's jti. Events go through the
// batch writer, so the request itself only appends to a buffer.

import type { TokenObserver, TokenOutcome } from '../oauth2/client-guard.ts';
import type { AuditSink, NewAuditEvent } from './audit-writer.ts';
import { MAX_IP_LENGTH, MAX_KEY_LENGTH, MAX_SCOPE_LENGTH, clip } from './caller-text.ts';
import { refusedBeforeAuthentication } from './refusal-summary.ts';

/** The types of the events written one per request (what `audit.retention.tokenEvents` keeps). */
export const TOKEN_EVENT_TYPES = ['token.issued', 'token.refused', 'introspect.refused', 'revoke.refused'] as const;

export function tokenAuditObserver(sink: AuditSink): TokenObserver {
  return {
    observe(outcome) {
      if (refusedBeforeAuthentication(outcome)) return;
      if (outcome.endpoint !== 'token' && outcome.status === 200) return;
      sink.write(tokenAuditEvent(outcome));
    },
  };
}

export function tokenAuditEvent(outcome: TokenOutcome): NewAuditEvent {
  const who = outcome.principal ?? clip(outcome.claimedClientId, MAX_KEY_LENGTH) ?? 'anonymous';
  const issued = outcome.result === 'issued';
  const after = auditDetails(outcome, issued);
  return {
    at: outcome.at,
    actor: who,
    type: issued ? 'token.issued' : `${outcome.endpoint}.refused`,
    // A token acting for another principal is about that principal: a search by either finds it.
    target: issued && outcome.actingFor ? outcome.actingFor.subject : who,
    before: null,
    after,
  };
}

/** The event's details, in this key order, added to in place (one object per event: this runs for every token). */
function auditDetails(outcome: TokenOutcome, issued: boolean): Record<string, unknown> {
  const after: Record<string, unknown> = {
    result: outcome.result,
    status: outcome.status,
    clientIp: clip(outcome.clientIp, MAX_IP_LENGTH),
    // Null until the caller proved who it is: the actor is then only the id it claimed.
    method: outcome.method ?? null,
    scope: clip(outcome.requestedScope, MAX_SCOPE_LENGTH) ?? null,
  };
  if (!issued) return after;
  after['grantedScope'] = outcome.grantedScope ?? null;
  after['jti'] = outcome.jti ?? null;
  after['reused'] = outcome.reused ?? false;
  const actingFor = outcome.actingFor;
  if (actingFor) {
    // A token that acts for another principal: for whom, and the actor chain (current actor first).
    after['subject'] = actingFor.subject;
    after['actors'] = actingFor.actors;
    after['acting'] = actingFor.mode;
    // A token exchange from an ID token (subject_token_type id_token): the ID token's jti is the new token's exchanged_from.
    if (actingFor.fromIdToken) after['subjectTokenType'] = 'id_token';
  }
  return after;
}

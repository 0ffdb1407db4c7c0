// The domain an audit event is about, stored with it (audit_events.domain) so that a domain's
// timeline is one index range (GET /admin/v1/domains/{d}/audit): the domain's own events (target
// the domain; its reviews' and approvals' too), its roles' and their members' (target `<d>:role.<r>`), and its services' and their
// credentials' (target the principal `<d>.<s>`; a service name has no dot, so the domain is
// everything before the last one). Other events (token requests, signing keys, the CA) are about
// no one domain: null. By the event's kind, never by the target's shape alone: a summary's
// target may be an IPv6 address, with colons.

const DOMAIN_KINDS = ['domain.', 'review.'];
const ROLE_KINDS = ['role.', 'role-member.'];
/** Approvals: of a domain setting (target the domain) or of a role's members (target `<d>:role.<r>`). */
const DOMAIN_OR_ROLE_KINDS = ['approval.'];
const PRINCIPAL_KINDS = ['service.', 'client-secret.', 'public-key.', 'api-key.', 'join-token.', 'certificate.'];

const startsWithAny = (type: string, kinds: readonly string[]): boolean => kinds.some((kind) => type.startsWith(kind));

export function auditDomain(type: string, target: string): string | null {
  if (startsWithAny(type, DOMAIN_KINDS)) return target;
  if (startsWithAny(type, DOMAIN_OR_ROLE_KINDS)) {
    const colon = target.indexOf(':');
    return colon > 0 ? target.slice(0, colon) : target;
  }
  if (startsWithAny(type, ROLE_KINDS)) {
    const colon = target.indexOf(':');
    return colon > 0 ? target.slice(0, colon) : null;
  }
  if (startsWithAny(type, PRINCIPAL_KINDS)) {
    const dot = target.lastIndexOf('.');
    return dot > 0 ? target.slice(0, dot) : null;
  }
  return null;
}

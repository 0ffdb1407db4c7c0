// After a client has proved who it is: may it get a token at all, from where it is calling?
// These answers come only after authentication, so they reveal nothing to a stranger. The rule
// is policy/service-standing.ts's; this words it in the OAuth dialect (AUTH_103, AUTH_104).

import { ipAllowed, type IpMatcher } from '../policy/ip-ranges.ts';
import { callerStanding } from '../policy/service-standing.ts';
import type { Service } from '../storage/records.ts';
import { OAuthError } from './errors.ts';

export function checkClientStanding(service: Service, clientIp: string, now: number, allowed: IpMatcher = ipAllowed): void {
  const standing = callerStanding(service, clientIp, now, allowed);
  if (standing === 'disabled' || standing === 'missing') {
    throw new OAuthError(401, 'invalid_client', `service ${service.principal} is disabled`, { errorCode: 'AUTH_103' });
  }
  if (standing === 'expired') {
    throw new OAuthError(401, 'invalid_client', `service ${service.principal} expired at ${new Date(service.expiresAt ?? now).toISOString()}`, {
      errorCode: 'AUTH_103',
    });
  }
  if (standing === 'outside-ranges') {
    throw new OAuthError(403, 'access_denied', `calls from ${clientIp} are not in the allowed IP ranges of ${service.principal}`, {
      errorCode: 'AUTH_104',
    });
  }
}

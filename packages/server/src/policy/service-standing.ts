// Whether a service may act right now: it exists, is ACTIVE, and has not passed its expiresAt;
// and, for a caller proving it is the service, whether it calls from its `allowedIps`. The one
// home of those rules; every caller (token endpoint, introspection, token acceptance, the admin
// API, the CA) asks here and words its own refusal from the answer.

import { ipAllowed, type IpMatcher } from './ip-ranges.ts';
import type { Service } from '../storage/records.ts';

export type ServiceStanding = 'active' | 'missing' | 'disabled' | 'expired';

/** A service's standing for one caller: `outside-ranges` when its allowedIps leave out the caller's address. */
export type CallerStanding = ServiceStanding | 'outside-ranges';

export function serviceStanding(service: Service | null, now: number): ServiceStanding {
  if (service === null) return 'missing';
  if (service.status !== 'ACTIVE') return 'disabled';
  if (service.expiresAt !== null && service.expiresAt <= now) return 'expired';
  return 'active';
}

export function isServiceActive(service: Service | null, now: number): service is Service {
  return serviceStanding(service, now) === 'active';
}

/**
 * The standing of a caller that proved it is `service`, calling from `clientIp` (fastify's
 * request.ip, which believes X-Forwarded-For only from trustedProxies). An empty allowedIps
 * allows every address.
 */
export function callerStanding(service: Service | null, clientIp: string, now: number, allowed: IpMatcher = ipAllowed): CallerStanding {
  const standing = serviceStanding(service, now);
  if (standing !== 'active' || service === null) return standing;
  return service.allowedIps.length > 0 && !allowed(service.allowedIps, clientIp) ? 'outside-ranges' : 'active';
}

// Whether a service may act right now: it exists, is ACTIVE, and has not passed its expiresAt.
// The one home of that rule; every caller (token endpoint, introspection, token acceptance, the
// admin API, the CA) asks here and words its own refusal from the answer.

import type { Service } from '../storage/records.ts';

export type ServiceStanding = 'active' | 'missing' | 'disabled' | 'expired';

export function serviceStanding(service: Service | null, now: number): ServiceStanding {
  if (service === null) return 'missing';
  if (service.status !== 'ACTIVE') return 'disabled';
  if (service.expiresAt !== null && service.expiresAt <= now) return 'expired';
  return 'active';
}

export function isServiceActive(service: Service | null, now: number): service is Service {
  return serviceStanding(service, now) === 'active';
}

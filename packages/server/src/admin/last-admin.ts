// The admin API must never remove the last way back in: a change that would leave
// `sys.auth:role.admin` without an active, unexpired member is refused, as Athenz refuses to
// delete the last member of an admin role. (Two such changes racing on two instances could still
// both pass; the bootstrap file and database access remain the way out in that case.)

import { isServiceActive } from '../policy/service-standing.ts';
import type { RoleMember } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN } from './authz.ts';
import { AdminError } from './errors.ts';

export interface AdminChange {
  /** A member leaving the role (member removed, or its service disabled, expired or deleted). */
  without?: string;
  /** The role's whole new member list (PUT), or [] when the role is deleted. */
  members?: RoleMember[];
  /** Members added or given a new expiry, the others staying (PUT or POST of members). */
  writing?: readonly RoleMember[];
}

export async function refuseLastAdminRemoval(store: Pick<Store, 'getRole' | 'getService'>, now: number, change: AdminChange): Promise<void> {
  const role = await store.getRole(SYSTEM_DOMAIN, ADMIN_ROLE);
  if (!role) return;
  const written = new Map((change.writing ?? []).map((m) => [m.principal, m]));
  const current = (change.members ?? role.members).filter((m) => !written.has(m.principal));
  const members = [...current, ...written.values()].filter((m) => (m.expiresAt === null || m.expiresAt > now) && m.principal !== change.without);
  for (const member of members) {
    if (isServiceActive(await store.getService(member.principal), now)) return;
  }
  throw new AdminError(
    409,
    'conflict',
    `this would leave ${SYSTEM_DOMAIN}:role.${ADMIN_ROLE} without an active member, and nobody could administer Tessera; add another system admin first`,
  );
}

/**
 * For a change writing members of `domain:role.role` (a PUT of the role's whole list, or members
 * added or given a new expiry): refused when it would leave `sys.auth:role.admin` without an
 * active member, judged at the latest expiry written or now, whichever is later (an expiry already
 * past ends the membership now; one in the future ends it then).
 */
export async function refuseLastAdminWrite(
  store: Pick<Store, 'getRole' | 'getService'>,
  now: number,
  target: { domain: string; role: string },
  change: { members: RoleMember[] } | { writing: readonly RoleMember[] },
): Promise<void> {
  if (!isSystemAdminRole(target.domain, target.role)) return;
  const written = 'members' in change ? change.members : change.writing;
  let at = now;
  for (const member of written) if (member.expiresAt !== null && member.expiresAt > at) at = member.expiresAt;
  await refuseLastAdminRemoval(store, at, change);
}

export const isSystemAdminRole = (domain: string, role: string): boolean => domain === SYSTEM_DOMAIN && role === ADMIN_ROLE;

// Changes a second admin must approve. A domain lists in `approvalRequiredRoles` the roles whose
// member changes made through the admin API do not apply at once: each is stored as a pending
// change (storage/sql/approvals.ts), answered 202, and applied only when another admin of the
// domain approves it (routes/approvals.ts), after being checked again against the state then.
// Removing names from the list is such a change too; adding names applies at once.

import { randomBytes } from 'node:crypto';
import type { Store } from '../storage/store.ts';
import { pendingChangeOut } from './wire.ts';

/** How long a change waits for its approval. */
export const APPROVAL_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** What a pending change was requested as: the route it came through. */
export type ChangeKind = 'role.put' | 'role.delete' | 'member.put' | 'member.delete' | 'members.post' | 'reviews' | 'domain.update';

/** Whether changes of the members of `domain:role.role` wait for a second admin. */
export async function approvalRequired(store: Pick<Store, 'getDomain'>, domain: string, role: string): Promise<boolean> {
  const found = await store.getDomain(domain);
  return found !== null && found.approvalRequiredRoles.includes(role);
}

/** The roles of `domain` whose changes wait for a second admin. */
export async function approvalRequiredRoles(store: Pick<Store, 'getDomain'>, domain: string): Promise<ReadonlySet<string>> {
  return new Set((await store.getDomain(domain))?.approvalRequiredRoles ?? []);
}

/** Stores the change as pending; the 202 answer's body. */
export async function requestApproval(
  deps: { store: Store; now: () => number },
  requestedBy: string,
  request: { kind: ChangeKind; domain: string; role: string | null; change: object; reason?: string | undefined },
): Promise<ReturnType<typeof pendingChangeOut>> {
  const now = deps.now();
  const pending = await deps.store.createPendingChange(
    {
      id: `chg_${randomBytes(8).toString('hex')}`,
      domain: request.domain,
      role: request.role,
      kind: request.kind,
      change: request.change,
      requestedBy,
      requestedAt: now,
      expiresAt: now + APPROVAL_TTL_MS,
    },
    { actor: requestedBy },
    request.reason,
  );
  return pendingChangeOut(pending);
}

// A domain's changes waiting for a second admin (roles listed in approvalRequiredRoles), oldest
// first: what each would do, who asked and when, until when it waits. Another admin approves
// (which applies it, checked again against the state now) or rejects it with an optional reason;
// the requester may only withdraw it: the server refuses anyone approving their own change.

import type { PendingChange } from '../api.ts';
import { announce, append, field, formatTime, h, notice } from '../dom.ts';
import { domainHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { errorText, errorView, pagedTable, type PagedTable } from './common.ts';
import { askDialog, describeChange, requestReason } from './pending.ts';

const KINDS: Record<string, string> = {
  'member.put': 'Member added or changed',
  'member.delete': 'Member removed',
  'members.post': 'Members added',
  'role.put': 'Role changed',
  'role.delete': 'Role deleted',
  reviews: 'Review',
  'domain.update': 'Approval setting',
};

export async function renderApprovals({ api, session, view, crumbs }: PageContext, domain: string, limit: number): Promise<void> {
  crumbs([{ label: domain, href: domainHref(domain) }, { label: 'Approvals' }]);
  const outcome = h('div', { class: 'outcome' });
  const report = (kind: 'success' | 'error', message: string): void => {
    outcome.replaceChildren(notice(kind, message));
    if (kind === 'success') announce(message);
  };
  const table: PagedTable<PendingChange> = pagedTable<PendingChange>({
    caption: `Changes of ${domain} waiting for a second admin, oldest first`,
    columns: [
      { header: 'Kind', cell: (c) => KINDS[c.kind] ?? c.kind },
      { header: 'Role', cell: (c) => c.role ?? '–' },
      { header: 'Change', cell: (c) => changeCell(c) },
      { header: 'Requested by', cell: (c) => (c.requestedBy === session.principal ? `${c.requestedBy} (you)` : c.requestedBy) },
      { header: 'When', cell: (c) => formatTime(c.requestedAt) },
      { header: 'Waits until', cell: (c) => formatTime(c.expiresAt) },
      { header: 'Actions', cell: (c) => actions(c) },
    ],
    load: (cursor) => api.listApprovals(domain, cursor, limit),
    empty: `No change of ${domain} waits for an approval.`,
  });

  const actions = (change: PendingChange): HTMLElement => {
    const own = change.requestedBy === session.principal;
    const decide = (approving: boolean): void => {
      void (async () => {
        const reason = h('input', { name: 'reason', maxlength: '500' });
        const verb = approving ? 'Approve' : own ? 'Withdraw' : 'Reject';
        const ok = await askDialog({
          title: `${verb} change ${change.id}?`,
          details: [
            `${describeChange(change)}, requested by ${change.requestedBy}.`,
            approving
              ? 'Approving applies it now, under your name, if it still applies; otherwise it fails and must be requested again.'
              : own
                ? 'Withdrawing it drops it: nothing is changed.'
                : 'Rejecting it drops it: nothing is changed. The requester sees your reason.',
          ],
          fields: [field('Reason (optional)', reason)],
          confirmLabel: verb,
          danger: !approving,
        });
        if (!ok) return;
        const why = reason.value.trim() || null;
        try {
          if (approving) {
            await api.approve(change.id, why);
            report('success', `Change ${change.id} was approved and applied: ${describeChange(change)}.`);
          } else {
            await api.reject(change.id, why);
            report('success', `Change ${change.id} was ${own ? 'withdrawn' : 'rejected'}; nothing was changed.`);
          }
        } catch (error) {
          report('error', `Could not ${verb.toLowerCase()} change ${change.id}: ${errorText(error)}`);
        }
        await table.reload().catch(() => undefined);
      })();
    };
    const approve = h('button', { type: 'button', 'aria-label': `Approve change ${change.id}` }, 'Approve');
    approve.addEventListener('click', () => decide(true));
    const reject = h(
      'button',
      { type: 'button', class: 'danger', 'aria-label': `${own ? 'Withdraw' : 'Reject'} change ${change.id}` },
      own ? 'Withdraw' : 'Reject',
    );
    reject.addEventListener('click', () => decide(false));
    // The requester may not approve its own change (the server answers 403): it may withdraw it.
    return own ? h('span', { class: 'row-actions decide' }, reject) : h('span', { class: 'row-actions decide' }, approve, reject);
  };

  try {
    await table.reload();
  } catch (error) {
    errorView(view, `Approvals of ${domain}`, error);
    return;
  }
  append(
    view,
    h('h1', {}, `Changes waiting for approval in ${domain}`),
    h(
      'p',
      {},
      `Changes of the roles ${domain} lists as needing a second admin. Another admin of ${domain} approves or rejects each; whoever asked may withdraw it. `,
      'Each waits seven days at most.',
    ),
    outcome,
    table.element,
    h('p', {}, h('a', { href: domainHref(domain) }, `Back to ${domain}`)),
  );
}

function changeCell(change: PendingChange): HTMLElement {
  const reason = requestReason(change);
  return h(
    'div',
    { class: 'change' },
    h('p', {}, describeChange(change)),
    reason === null ? null : h('p', { class: 'reason' }, `Reason: ${reason}`),
    h('code', {}, change.id),
  );
}

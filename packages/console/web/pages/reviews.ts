// The reviews inbox: the memberships, across the domains the admin administers, whose review
// date or expiry falls within a window (7, 14, 30 or 90 days) or has passed. Rows are chosen with
// checkboxes and extended (a new review date, optionally a new expiry) or removed together, with
// a reason. Items of roles that need a second admin are held, one change per domain (202): the
// answer says which, with links to the approvals.

import type { DueMembership, ReviewAnswer, ReviewRequest } from '../api.ts';
import { announce, append, confirmAction, field, formatTime, h, notice } from '../dom.ts';
import { REVIEW_WINDOWS, domainHref, reviewsHref, roleHref, type ReviewWindow } from '../router.ts';
import type { PageContext } from '../main.ts';
import { errorText, errorView, pagedTable } from './common.ts';
import { askDialog, daysFromNow, pendingNotice, reviewText, utcFromLocalInput } from './pending.ts';

const DAY_SECONDS = 86_400;
const key = (m: DueMembership): string => `${m.domain}\n${m.role}\n${m.principal}`;
const named = (m: DueMembership): string => `${m.principal} in ${m.domain}:role.${m.role}`;

export async function renderReviews({ api, view, crumbs }: PageContext, days: ReviewWindow, limit: number): Promise<void> {
  crumbs([{ label: 'Membership reviews' }]);
  const selected = new Map<string, DueMembership>();
  const selectAll = h('input', { type: 'checkbox', id: 'select-all' });
  const count = h('p', { class: 'list-status', role: 'status', id: 'selection-count' });
  const extend = h('button', { type: 'button', 'aria-describedby': 'selection-count' }, 'Extend selected');
  const remove = h('button', { type: 'button', class: 'danger', 'aria-describedby': 'selection-count' }, 'Remove selected');
  const reason = h('input', { name: 'reason', maxlength: '500' });
  // Focus goes here after an action: the buttons that started it are disabled once the selection is cleared.
  const outcome = h('div', { class: 'outcome', tabindex: '-1' });

  const selectAllLine = h('p', { class: 'select-all' }, selectAll, ' ', h('label', { for: 'select-all' }, 'Select all on this page'));
  const showSelection = (): void => {
    const loaded = table.loaded();
    selectAllLine.hidden = loaded.length === 0;
    count.textContent = selected.size === 0 ? 'Nothing selected.' : `${selected.size} selected.`;
    extend.disabled = remove.disabled = selected.size === 0;
    selectAll.checked = loaded.length > 0 && loaded.every((m) => selected.has(key(m)));
    selectAll.indeterminate = !selectAll.checked && loaded.some((m) => selected.has(key(m)));
  };
  const checkbox = (m: DueMembership): HTMLInputElement => {
    const box = h('input', { type: 'checkbox', 'aria-label': `Select ${named(m)}`, checked: selected.has(key(m)) });
    box.addEventListener('change', () => {
      if (box.checked) selected.set(key(m), m);
      else selected.delete(key(m));
      showSelection();
    });
    return box;
  };
  const table = pagedTable<DueMembership>({
    caption: `Memberships due for review or expiring within ${days} days, or past, earliest first`,
    columns: [
      { header: 'Select', cell: checkbox },
      { header: 'Domain', cell: (m) => h('a', { href: domainHref(m.domain) }, m.domain) },
      { header: 'Role', cell: (m) => h('a', { href: roleHref(m.domain, m.role) }, m.role) },
      { header: 'Principal', cell: (m) => m.principal },
      { header: 'Expires', cell: (m) => expiryText(m.expiresAt) },
      { header: 'Review by', cell: (m) => reviewText(m.reviewBy) },
      { header: 'Why listed', cell: (m) => whyText(m) },
    ],
    load: (cursor) => api.listReviews(days * DAY_SECONDS, cursor, limit),
    empty: `Nothing is due for review or expiring within ${days} days.`,
  });
  selectAll.addEventListener('change', () => {
    for (const m of table.loaded()) {
      if (selectAll.checked) selected.set(key(m), m);
      else selected.delete(key(m));
    }
    table.refresh();
    showSelection();
  });
  try {
    await table.reload();
  } catch (error) {
    errorView(view, 'Membership reviews', error);
    return;
  }
  showSelection();

  const done = async (answer: ReviewAnswer, verb: string): Promise<void> => {
    const applied = answer.changed === 0 ? null : `${verb} ${answer.changed} membership${answer.changed === 1 ? '' : 's'}.`;
    const parts: HTMLElement[] = [];
    if (applied !== null) parts.push(notice('success', applied));
    for (const change of answer.pending) {
      const items = Array.isArray((change.change as { body?: { items?: unknown[] } })?.body?.items)
        ? (change.change as { body: { items: unknown[] } }).body.items.length
        : 0;
      parts.push(pendingNotice(change, `${verb === 'Extended' ? 'Extending' : 'Removing'} ${items} membership${items === 1 ? '' : 's'} of ${change.domain}`));
    }
    const held =
      answer.pending.length === 0 ? '' : ` ${answer.pending.length} change${answer.pending.length === 1 ? '' : 's'} wait for a second admin’s approval.`;
    selected.clear();
    reason.value = '';
    // The list first, then what happened: the answer is shown over the list as it now is.
    await table.reload().catch(() => undefined);
    showSelection();
    outcome.replaceChildren(...parts);
    announce(`${applied ?? 'Nothing was changed at once.'}${held}`);
    outcome.focus();
  };
  const request = (action: ReviewRequest['action']): ReviewRequest => ({
    items: [...selected.values()].map(({ domain, role, principal }) => ({ domain, role, principal })),
    action,
    ...(reason.value.trim() === '' ? {} : { reason: reason.value.trim() }),
  });

  extend.addEventListener('click', () => {
    void (async () => {
      const reviewBy = h('input', { name: 'reviewBy', type: 'datetime-local', required: true, value: daysFromNow(90) });
      const expiresAt = h('input', { name: 'expiresAt', type: 'datetime-local' });
      const ok = await askDialog({
        title: `Extend ${selected.size} membership${selected.size === 1 ? '' : 's'}`,
        details: [`They keep their roles; the next review is due on the date below (UTC). ${listOf([...selected.values()])}`],
        fields: [
          field('Next review by (UTC)', reviewBy, 'In the future; 90 days from now unless you change it.'),
          field('New expiry (UTC, optional)', expiresAt, 'Empty keeps each membership’s expiry as it is.'),
        ],
        confirmLabel: 'Extend',
        check: () => {
          const next = utcFromLocalInput(reviewBy.value);
          if (next === null) return 'Give the next review date.';
          if (Date.parse(next) <= Date.now()) return 'The next review date must be in the future.';
          return null;
        },
      });
      if (!ok) return;
      const expiry = utcFromLocalInput(expiresAt.value);
      try {
        const answer = await api.review({
          ...request('extend'),
          reviewBy: utcFromLocalInput(reviewBy.value)!,
          ...(expiry === null ? {} : { expiresAt: expiry }),
        });
        await done(answer, 'Extended');
      } catch (error) {
        outcome.replaceChildren(notice('error', `Could not extend: ${errorText(error)}`));
      }
    })();
  });
  remove.addEventListener('click', () => {
    void (async () => {
      const items = [...selected.values()];
      const ok = await confirmAction({
        title: `Remove ${items.length} membership${items.length === 1 ? '' : 's'}?`,
        details: [
          `These principals lose these roles at once (unless a role needs a second admin, when the removal waits for one): ${listOf(items)}`,
          'The services themselves and their other roles are kept.',
        ],
        confirmLabel: `Remove ${items.length}`,
      });
      if (!ok) return;
      try {
        await done(await api.review(request('remove')), 'Removed');
      } catch (error) {
        outcome.replaceChildren(notice('error', `Could not remove: ${errorText(error)}`));
      }
    })();
  });

  append(
    view,
    h('h1', {}, 'Membership reviews'),
    h(
      'p',
      {},
      'Memberships in the domains you administer whose review date or expiry is near or past. ',
      'A membership past its review date still grants; one past its expiry grants nothing.',
    ),
    h(
      'nav',
      { 'aria-label': 'Window', class: 'row-actions' },
      ...REVIEW_WINDOWS.map((d) =>
        d === days ? h('strong', { 'aria-current': 'true' }, `Within ${d} days`) : h('a', { href: reviewsHref(d) }, `Within ${d} days`),
      ),
    ),
    outcome,
    selectAllLine,
    table.element,
    h(
      'section',
      { 'aria-labelledby': 'bulk' },
      h('h2', { id: 'bulk' }, 'With the selected memberships'),
      field('Reason (optional)', reason, 'Recorded with the change in each domain’s timeline, e.g. “quarterly review, ticket 42”.'),
      count,
      h('p', { class: 'row-actions' }, extend, remove),
    ),
  );
}

function expiryText(expiresAt: string | null): string {
  if (expiresAt === null) return 'never';
  return Date.parse(expiresAt) <= Date.now() ? `expired ${formatTime(expiresAt)}` : formatTime(expiresAt);
}

function whyText(m: DueMembership): string {
  const reasons: string[] = [];
  if (m.reason.includes('review-due')) reasons.push(m.reviewBy !== null && Date.parse(m.reviewBy) <= Date.now() ? 'review overdue' : 'review due');
  if (m.reason.includes('expiring')) reasons.push(m.expiresAt !== null && Date.parse(m.expiresAt) <= Date.now() ? 'expired' : 'expiring');
  return reasons.join(', ');
}

/** `a in d:role.r, b in …` (the first 20, then how many more). */
function listOf(items: DueMembership[]): string {
  const shown = items.slice(0, 20).map(named).join('; ');
  return items.length > 20 ? `${shown}; and ${items.length - 20} more.` : `${shown}.`;
}

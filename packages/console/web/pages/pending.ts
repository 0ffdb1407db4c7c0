// What the pages that change members and roles share: the notice for a change held for a second
// admin's approval (answered 202), a plain-words summary of such a change, a modal form dialog
// (a date, a reason), and the UTC dates of datetime-local inputs.

import type { PendingChange } from '../api.ts';
import { append, formatTime, h, uid } from '../dom.ts';
import { approvalsHref } from '../router.ts';

/**
 * A status notice saying that `what` was not done but waits for a second admin: the change's id,
 * until when it waits, and a link to the domain's approvals page.
 */
export function pendingNotice(change: PendingChange, what: string): HTMLElement {
  return h(
    'div',
    { class: 'notice pending', role: 'status' },
    h('p', {}, h('strong', {}, 'Waiting for a second admin’s approval: '), `${what} is not done yet.`),
    h(
      'p',
      {},
      'Change ',
      h('code', {}, change.id),
      ` applies only when another admin of ${change.domain} approves it (it waits until ${formatTime(change.expiresAt)}). `,
      h('a', { href: approvalsHref(change.domain) }, `Changes waiting in ${change.domain}`),
    ),
  );
}

/** The plain text of pendingNotice, for the live region. */
export function pendingText(change: PendingChange, what: string): string {
  return `Waiting for a second admin’s approval: ${what} is not done yet (change ${change.id}).`;
}

type Body = Record<string, unknown>;
const asBody = (value: unknown): Body => (value !== null && typeof value === 'object' ? (value as Body) : {});
const dates = (body: Body): string => {
  const parts: string[] = [];
  if ('expiresAt' in body) parts.push(typeof body['expiresAt'] === 'string' ? `expires ${formatTime(body['expiresAt'])}` : 'never expires');
  else parts.push('no expiry');
  parts.push(typeof body['reviewBy'] === 'string' ? `review by ${formatTime(body['reviewBy'])}` : 'no review date');
  return parts.join(', ');
};
const names = (list: unknown): string => {
  const items = Array.isArray(list) ? list.map((item) => (typeof item === 'string' ? item : String(asBody(item)['principal'] ?? '?'))) : [];
  if (items.length === 0) return 'none';
  return items.length <= 5 ? items.join(', ') : `${items.slice(0, 5).join(', ')} and ${items.length - 5} more`;
};

/** What a pending change would do, in words. */
export function describeChange(pending: PendingChange): string {
  const change = asBody(pending.change);
  const body = asBody(change['body']);
  const role = pending.role === null ? '' : `${pending.domain}:role.${pending.role}`;
  switch (pending.kind) {
    case 'member.put':
      return `Add ${String(change['principal'])} to ${role} (or set its dates): ${dates(body)}`;
    case 'member.delete':
      return `Remove ${String(change['principal'])} from ${role}`;
    case 'members.post': {
      const members = Array.isArray(body['members']) ? body['members'] : [];
      return `Add or update ${members.length} member${members.length === 1 ? '' : 's'} of ${role}: ${names(members)}`;
    }
    case 'role.put': {
      const parts: string[] = [];
      if (Array.isArray(body['members'])) parts.push(`members become ${names(body['members'])}`);
      if (Array.isArray(body['actors'])) parts.push(`actors become ${names(body['actors'])}`);
      if (Array.isArray(body['impersonators'])) parts.push(`impersonators become ${names(body['impersonators'])}`);
      if (typeof body['idTokenSubjects'] === 'boolean') parts.push(`ID token subjects ${body['idTokenSubjects'] ? 'allowed' : 'refused'}`);
      return `Change ${role}: ${parts.join('; ') || 'its settings'}`;
    }
    case 'role.delete':
      return `Delete the role ${role} with its members`;
    case 'reviews': {
      const items = Array.isArray(body['items']) ? body['items'].map(asBody) : [];
      const list = names(items.map((item) => `${String(item['principal'])} in ${String(item['role'])}`));
      const count = `${items.length} membership${items.length === 1 ? '' : 's'}`;
      if (body['action'] === 'remove') return `Remove ${count} after review: ${list}`;
      const expiry = 'expiresAt' in body ? (typeof body['expiresAt'] === 'string' ? `, expiry ${formatTime(body['expiresAt'])}` : ', never expiring') : '';
      return `Extend ${count} to review by ${formatTime(typeof body['reviewBy'] === 'string' ? body['reviewBy'] : null)}${expiry}: ${list}`;
    }
    case 'domain.update': {
      const removes = Array.isArray(change['removes']) ? (change['removes'] as unknown[]).map(String) : [];
      return `Stop requiring a second admin for ${removes.length === 0 ? 'some roles' : removes.join(', ')} in ${pending.domain}`;
    }
    default:
      return `${pending.kind} in ${pending.domain}`;
  }
}

/** The reason the requester gave, if any. */
export function requestReason(pending: PendingChange): string | null {
  const change = asBody(pending.change);
  const reason = change['reason'] ?? asBody(change['body'])['reason'];
  return typeof reason === 'string' ? reason : null;
}

export interface AskOptions {
  title: string;
  details: string[];
  /** Labelled fields (dom.ts `field`) shown in the dialog's form. */
  fields: HTMLElement[];
  confirmLabel: string;
  danger?: boolean;
  /** A message when the fields do not do (shown in the dialog, which stays open), or null. */
  check?: () => string | null;
}

/**
 * A modal <dialog> with a small form: resolves true when submitted (after `check` passes), false
 * on Cancel or Escape. Focus starts in the first field and goes back to the opener.
 */
export function askDialog({ title, details, fields, confirmLabel, danger = false, check }: AskOptions): Promise<boolean> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = uid('dialog-title');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const confirm = h('button', { type: 'submit', class: danger ? 'danger' : null }, confirmLabel);
  const problem = h('div');
  const form = h('form', { novalidate: true }, ...fields, problem, h('p', { class: 'actions' }, cancel, confirm));
  const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'confirm' }, h('h2', { id: titleId }, title));
  append(dialog, ...details.map((text) => h('p', {}, text)), form);
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const message = check?.() ?? null;
      if (message !== null) {
        problem.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, message));
        return;
      }
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    (form.querySelector<HTMLElement>('input, select, textarea') ?? cancel).focus();
  });
}

/** A datetime-local value (`2026-12-31T00:00`, seconds optional) read as UTC; null when empty or not a date. */
export function utcFromLocalInput(value: string): string | null {
  if (value === '') return null;
  const ms = Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** An ISO time as a datetime-local value in UTC (`2026-12-31T00:00`); '' for null. */
export function localInputFromUtc(iso: string | null | undefined): string {
  return iso ? new Date(iso).toISOString().slice(0, 16) : '';
}

/** A review date field's value `days` from now (UTC, to the minute). */
export function daysFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 16);
}

/** `review by 2027-01-02 00:00 UTC`, or `due since …` once it has passed. */
export function reviewText(reviewBy: string | null | undefined): string {
  if (!reviewBy) return 'none';
  return Date.parse(reviewBy) <= Date.now() ? `due (since ${formatTime(reviewBy)})` : formatTime(reviewBy);
}

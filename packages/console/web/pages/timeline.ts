// A domain's timeline: the changes made to the domain, its roles and members, its services and
// their credentials, newest first, each with who made it, when, the reason given (when there is
// one) and what changed, field by field. Narrowed to one service or role by `?target=`.

import type { AuditEvent } from '../api.ts';
import { diffLines, describeType } from '../diff.ts';
import { append, formatTime, h } from '../dom.ts';
import { domainHref, timelineHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { errorView, pagedTable } from './common.ts';

export async function renderTimeline({ api, view, crumbs }: PageContext, domain: string, target: string | null, limit: number): Promise<void> {
  crumbs([
    { label: domain, href: domainHref(domain) },
    ...(target === null ? [{ label: 'Timeline' }] : [{ label: 'Timeline', href: timelineHref(domain) }, { label: target }]),
  ]);
  const table = pagedTable<AuditEvent>({
    caption: target === null ? `Changes to ${domain}, newest first` : `Changes to ${target}, newest first`,
    columns: [
      { header: 'When', cell: (event) => formatTime(event.at) },
      { header: 'Who', cell: (event) => event.actor },
      { header: 'What', cell: (event) => describeType(event.type) },
      {
        header: 'Of',
        cell: (event) => (target === null && event.target !== domain ? h('a', { href: timelineHref(domain, event.target) }, event.target) : event.target),
      },
      { header: 'Change', cell: (event) => changeCell(event) },
    ],
    load: (cursor) => api.domainAudit(domain, target, cursor, limit),
    empty: target === null ? `No changes to ${domain} are recorded.` : `No changes to ${target} are recorded in ${domain}.`,
  });
  try {
    await table.reload();
  } catch (error) {
    errorView(view, `Timeline of ${target ?? domain}`, error);
    return;
  }
  append(
    view,
    h('h1', {}, `Timeline of ${target ?? domain}`),
    target === null ? null : h('p', {}, h('a', { href: timelineHref(domain) }, `Every change to ${domain}`)),
    table.element,
  );
}

function changeCell(event: AuditEvent): HTMLElement {
  const after = event.after !== null && typeof event.after === 'object' ? (event.after as Record<string, unknown>) : {};
  const reason = typeof after['reason'] === 'string' ? after['reason'] : null;
  const lines = diffLines(event.before, event.after).filter((line) => line.field !== 'reason');
  return h(
    'div',
    { class: 'change' },
    reason === null ? null : h('p', { class: 'reason' }, `Reason: ${reason}`),
    lines.length === 0
      ? h('span', { class: 'empty' }, 'no details')
      : h(
          'ul',
          { class: 'diff' },
          ...lines.map((line) =>
            h(
              'li',
              {},
              h('span', { class: 'diff-field' }, `${line.field}: `),
              line.before === undefined ? null : h('del', {}, line.before),
              line.before === undefined ? null : ' → ',
              h('ins', {}, line.after ?? ''),
            ),
          ),
        ),
  );
}

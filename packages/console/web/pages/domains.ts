// The domains the signed-in admin administers (all of them for a system admin), a page at a time,
// with a filter over the loaded ones and, for a system admin, a form to create a domain.

import type { Domain } from '../api.ts';
import { announce, append, field, formatTime, h, notice } from '../dom.ts';
import { domainHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { actionForm, errorView, pagedTable } from './common.ts';

export async function renderDomains({ api, session, view, crumbs }: PageContext, limit: number): Promise<void> {
  crumbs([]);
  const search = h('input', { type: 'search', name: 'filter', spellcheck: 'false', autocapitalize: 'none' });
  const matches = (domain: Domain): boolean => {
    const text = search.value.trim().toLowerCase();
    return text === '' || domain.name.includes(text) || (domain.description ?? '').toLowerCase().includes(text);
  };
  const table = pagedTable<Domain>({
    caption: session.standing.kind === 'system' ? 'Every domain' : 'The domains you administer',
    columns: [
      { header: 'Name', cell: (domain) => h('a', { href: domainHref(domain.name) }, domain.name) },
      { header: 'Description', cell: (domain) => domain.description ?? '' },
      { header: 'Created', cell: (domain) => formatTime(domain.createdAt) },
    ],
    load: (cursor) => api.listDomains(cursor, limit),
    empty: 'No domains yet.',
    filter: matches,
  });
  search.addEventListener('input', () => table.refresh());
  try {
    await table.reload();
  } catch (error) {
    errorView(view, 'Domains', error);
    return;
  }
  append(view, h('h1', {}, 'Domains'));
  append(
    view,
    h(
      'section',
      { 'aria-labelledby': 'domain-list' },
      h('h2', { id: 'domain-list' }, session.standing.kind === 'system' ? 'All domains' : 'Domains you administer'),
      field('Filter the loaded domains', search, 'Matches names and descriptions; “Load more” brings in further pages.'),
      table.element,
    ),
  );
  if (session.standing.kind === 'system') {
    const name = h('input', { name: 'name', required: true, spellcheck: 'false', autocapitalize: 'none' });
    const description = h('input', { name: 'description' });
    const created = h('div');
    const form = actionForm(
      'Create a domain',
      [
        field('Name', name, 'Lower-case letters, digits, _ and - in dot-separated parts, e.g. payments or team.billing.'),
        field('Description (optional)', description),
      ],
      'Create domain',
      async () => {
        created.replaceChildren();
        const domain = await api.createDomain(name.value.trim(), description.value.trim() || null);
        name.value = '';
        description.value = '';
        created.appendChild(notice('success', `Domain ${domain.name} created.`));
        announce(`Domain ${domain.name} created.`);
        await table.reload();
      },
    );
    append(view, h('section', { 'aria-labelledby': 'create-domain' }, h('h2', { id: 'create-domain' }, 'Create a domain'), form, created));
  }
}

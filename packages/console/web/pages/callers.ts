// Who calls a domain: the principals that obtained tokens for it in a period (24 hours, 7 or 30
// days), with the roles they got, through which actor, how often, first and last seen, and a
// chart of tokens over time. From the admin API's callers lists (hourly sums the server keeps as
// it hands tokens out), so it never scans audit rows.

import type { CallerPoint, Caller } from '../api.ts';
import { HOUR, barChart } from '../chart.ts';
import { append, formatTime, h } from '../dom.ts';
import { callersHref, domainHref, type Period } from '../router.ts';
import type { PageContext } from '../main.ts';
import { errorView, pagedTable } from './common.ts';

const PERIODS: readonly { period: Period; label: string; hours: number }[] = [
  { period: '24h', label: 'Last 24 hours', hours: 24 },
  { period: '7d', label: 'Last 7 days', hours: 7 * 24 },
  { period: '30d', label: 'Last 30 days', hours: 30 * 24 },
];

export async function renderCallers({ api, view, crumbs }: PageContext, domain: string, period: Period, limit: number): Promise<void> {
  crumbs([{ label: domain, href: domainHref(domain) }, { label: 'Callers' }]);
  const chosen = PERIODS.find((p) => p.period === period) ?? PERIODS[2]!;
  // Whole hours: the server counts by the hour.
  const since = new Date(Math.floor((Date.now() - chosen.hours * HOUR) / HOUR) * HOUR).toISOString();
  let points: CallerPoint[];
  try {
    points = await api.callerSeries(domain, since);
  } catch (error) {
    errorView(view, `Callers of ${domain}`, error);
    return;
  }
  const table = pagedTable<Caller>({
    caption: `Principals that obtained tokens for ${domain}, ${chosen.label.toLowerCase()}`,
    columns: [
      { header: 'Principal', cell: (c) => c.principal },
      { header: 'Through', cell: (c) => c.actor ?? 'itself' },
      { header: 'Roles', cell: (c) => (c.roles.length === 0 ? '–' : c.roles.join(', ')) },
      { header: 'Tokens', cell: (c) => c.count.toLocaleString('en') },
      { header: 'First seen', cell: (c) => formatTime(c.firstSeen) },
      { header: 'Last seen', cell: (c) => formatTime(c.lastSeen) },
    ],
    load: (cursor) => api.listCallers(domain, since, cursor, limit),
    empty: `No tokens were issued for ${domain} in this period.`,
  });
  try {
    await table.reload();
  } catch (error) {
    errorView(view, `Callers of ${domain}`, error);
    return;
  }
  const total = points.reduce((sum, point) => sum + point.count, 0);
  append(
    view,
    h('h1', {}, `Callers of ${domain}`),
    h(
      'nav',
      { 'aria-label': 'Period', class: 'row-actions' },
      ...PERIODS.map((p) =>
        p.period === chosen.period ? h('strong', { 'aria-current': 'true' }, p.label) : h('a', { href: callersHref(domain, p.period) }, p.label),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'over-time' },
      h('h2', { id: 'over-time' }, 'Tokens over time'),
      h('p', {}, `${total.toLocaleString('en')} tokens since ${formatTime(since)}.`),
      barChart({ start: Date.parse(since), hours: chosen.hours, series: [{ label: 'Tokens', points }] }),
    ),
    h('section', { 'aria-labelledby': 'who' }, h('h2', { id: 'who' }, 'Who calls'), table.element),
  );
}

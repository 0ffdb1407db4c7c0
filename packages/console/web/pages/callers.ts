// Who calls a domain: the principals that obtained tokens for it in a period (24 hours, 7 or 30
// days), with the roles they got, through which actor, how often, first and last seen, and a
// chart of tokens over time. From the admin API's callers lists (hourly sums the server keeps as
// it hands tokens out), so it never scans audit rows.

import type { CallerPoint, Caller } from '../api.ts';
import { append, formatTime, h } from '../dom.ts';
import { callersHref, domainHref, type Period } from '../router.ts';
import type { PageContext } from '../main.ts';
import { errorView, pagedTable } from './common.ts';

const PERIODS: readonly { period: Period; label: string; hours: number }[] = [
  { period: '24h', label: 'Last 24 hours', hours: 24 },
  { period: '7d', label: 'Last 7 days', hours: 7 * 24 },
  { period: '30d', label: 'Last 30 days', hours: 30 * 24 },
];
const HOUR = 3_600_000;
const SVG = 'http://www.w3.org/2000/svg';

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
      chart(points, Date.parse(since), chosen.hours),
    ),
    h('section', { 'aria-labelledby': 'who' }, h('h2', { id: 'who' }, 'Who calls'), table.element),
  );
}

/**
 * Bars of tokens per bucket (hours for 24 hours, days beyond), drawn as SVG with presentation
 * attributes (the page's CSP allows no inline style). Each bar has a <title> for pointer users;
 * the chart's label states the busiest bucket for screen readers.
 */
function chart(points: readonly CallerPoint[], start: number, hours: number): Element {
  const bucket = hours <= 24 ? HOUR : 24 * HOUR;
  const count = Math.ceil((hours * HOUR) / bucket) + 1;
  const totals = new Array<number>(count).fill(0);
  for (const point of points) {
    const index = Math.floor((Date.parse(point.at) - start) / bucket);
    if (index >= 0 && index < count) totals[index] = (totals[index] ?? 0) + point.count;
  }
  const max = Math.max(1, ...totals);
  const busiest = totals.indexOf(Math.max(...totals));
  const when = (index: number): string => formatTime(new Date(start + index * bucket).toISOString());
  const width = 720;
  const height = 160;
  const barWidth = width / count;
  const svg = document.createElementNS(SVG, 'svg');
  const label =
    max === 1 && totals.every((t) => t === 0)
      ? 'No tokens in this period.'
      : `Tokens per ${bucket === HOUR ? 'hour' : 'day'}; the most, ${totals[busiest]}, from ${when(busiest)}.`;
  for (const [name, value] of Object.entries({ viewBox: `0 0 ${width} ${height + 22}`, role: 'img', 'aria-label': label, class: 'chart' })) {
    svg.setAttribute(name, value);
  }
  totals.forEach((total, index) => {
    const barHeight = Math.round((total / max) * height);
    const bar = document.createElementNS(SVG, 'rect');
    const attributes = {
      x: String(index * barWidth + 1),
      y: String(height - barHeight),
      width: String(Math.max(1, barWidth - 2)),
      height: String(barHeight),
      class: 'bar',
    };
    for (const [name, value] of Object.entries(attributes)) bar.setAttribute(name, value);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${total} from ${when(index)}`;
    bar.appendChild(title);
    svg.appendChild(bar);
  });
  const axis = document.createElementNS(SVG, 'line');
  for (const [name, value] of Object.entries({ x1: '0', x2: String(width), y1: String(height), y2: String(height), class: 'axis' }))
    axis.setAttribute(name, value);
  svg.appendChild(axis);
  // Labels: the first and last bucket under the axis, the tallest bar's count at the top.
  const text = (content: string, x: number, y: number, anchor: 'start' | 'end'): void => {
    const node = document.createElementNS(SVG, 'text');
    for (const [name, value] of Object.entries({ x: String(x), y: String(y), 'text-anchor': anchor, class: 'label', 'aria-hidden': 'true' }))
      node.setAttribute(name, value);
    node.textContent = content;
    svg.appendChild(node);
  };
  text(when(0), 0, height + 16, 'start');
  text(when(count - 1), width, height + 16, 'end');
  text(`${max} per ${bucket === HOUR ? 'hour' : 'day'} at most`, 0, 12, 'start');
  return svg;
}

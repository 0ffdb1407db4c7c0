// Bar charts of counts over time, shared by the pages (callers, system): SVG built element by
// element with presentation attributes and classes (the CSP allows no inline style). One bar per
// bucket (hours for up to 24 hours, days beyond), or a group of bars when there are several
// series. Each bar has a <title> for pointer users; the chart's label states each series' busiest
// bucket for screen readers, and the numbers are also in the pages' tables.

import { formatTime } from './dom.ts';

const SVG = 'http://www.w3.org/2000/svg';
export const HOUR = 3_600_000;

export interface ChartSeries {
  /** What one count is, in the label: `Tokens`, `Issued`. */
  label: string;
  /** The bars' class besides `bar` (its colour in console.css), if any. */
  className?: string;
  points: readonly { at: string; count: number }[];
}

export interface ChartOptions {
  /** The first bucket's start, epoch ms. */
  start: number;
  /** The period's length; up to 24 hours a bar per hour, beyond a bar per day. */
  hours: number;
  series: readonly ChartSeries[];
  /** The label's subject with several series: `Tokens issued and refused`. */
  title?: string;
}

/** A bucket's length for a period: an hour up to 24 hours, a day beyond. */
export function bucketFor(hours: number): number {
  return hours <= 24 ? HOUR : 24 * HOUR;
}

function set(node: Element, attributes: Record<string, string>): void {
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
}

export function barChart({ start, hours, series, title }: ChartOptions): SVGSVGElement {
  const bucket = bucketFor(hours);
  const unit = bucket === HOUR ? 'hour' : 'day';
  const count = Math.ceil((hours * HOUR) / bucket) + 1;
  const totals = series.map((one) => {
    const values = new Array<number>(count).fill(0);
    for (const point of one.points) {
      const index = Math.floor((Date.parse(point.at) - start) / bucket);
      if (index >= 0 && index < count) values[index] = (values[index] ?? 0) + point.count;
    }
    return values;
  });
  const max = Math.max(1, ...totals.flat());
  const when = (index: number): string => formatTime(new Date(start + index * bucket).toISOString());
  const busiest = (values: number[]): string => {
    const most = Math.max(...values);
    return `the most, ${most}, from ${when(values.indexOf(most))}`;
  };
  const empty = totals.every((values) => values.every((value) => value === 0));
  let label: string;
  if (empty) label = `No ${(title ?? series[0]?.label ?? 'counts').toLowerCase()} in this period.`;
  else if (series.length === 1) label = `${series[0]!.label} per ${unit}; ${busiest(totals[0]!)}.`;
  else label = `${title ?? 'Counts'} per ${unit}: ${series.map((one, i) => `${one.label.toLowerCase()}, ${busiest(totals[i]!)}`).join('; ')}.`;

  const width = 720;
  const height = 160;
  const slot = width / count;
  const barWidth = Math.max(1, (slot - 2) / series.length);
  const svg = document.createElementNS(SVG, 'svg');
  set(svg, { viewBox: `0 0 ${width} ${height + 22}`, role: 'img', 'aria-label': label, class: 'chart' });
  totals.forEach((values, s) => {
    const one = series[s]!;
    values.forEach((total, index) => {
      const barHeight = Math.round((total / max) * height);
      const bar = document.createElementNS(SVG, 'rect');
      set(bar, {
        x: String(index * slot + 1 + s * barWidth),
        y: String(height - barHeight),
        width: String(barWidth),
        height: String(barHeight),
        class: one.className ? `bar ${one.className}` : 'bar',
      });
      const tip = document.createElementNS(SVG, 'title');
      tip.textContent = series.length === 1 ? `${total} from ${when(index)}` : `${one.label}: ${total} from ${when(index)}`;
      bar.appendChild(tip);
      svg.appendChild(bar);
    });
  });
  const axis = document.createElementNS(SVG, 'line');
  set(axis, { x1: '0', x2: String(width), y1: String(height), y2: String(height), class: 'axis' });
  svg.appendChild(axis);
  // Labels: the first and last bucket under the axis, the tallest bar's count at the top.
  const text = (content: string, x: number, y: number, anchor: 'start' | 'end'): void => {
    const node = document.createElementNS(SVG, 'text');
    set(node, { x: String(x), y: String(y), 'text-anchor': anchor, class: 'label', 'aria-hidden': 'true' });
    node.textContent = content;
    svg.appendChild(node);
  };
  text(when(0), 0, height + 16, 'start');
  text(when(count - 1), width, height + 16, 'end');
  text(`${max} per ${unit} at most`, 0, 12, 'start');
  return svg;
}

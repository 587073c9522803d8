// The activity chart: events per UTC hour or day, stacked by outcome, drawn as SVG from
// the counts-over-time API (GET /v1/events/count?bucket=…), with the same numbers in a
// table for screen readers.

import { el } from './common.js';

const OUTCOMES = ['success', 'failure', 'denied', 'error'];
const SVG = 'http://www.w3.org/2000/svg';
const HOUR = 3600e3;
const DAY = 24 * HOUR;

/** Hours for a range of a week or less, else days. */
export function bucketFor(filters) {
  if (filters.from && filters.to) {
    const span = Date.parse(filters.to) - Date.parse(filters.from);
    if (span > 0 && span <= 7 * DAY) return 'hour';
  }
  return 'day';
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

/** Every bucket from the first to the last, zeros filled in. */
function dense(buckets, unit) {
  if (!buckets.length) return [];
  const step = unit === 'hour' ? HOUR : DAY;
  const byStart = new Map(buckets.map((b) => [Date.parse(b.start), b]));
  const last = Date.parse(buckets[buckets.length - 1].start);
  // At most 2,000 bars, the newest (a narrower time range shows older ones).
  const first = Math.max(Date.parse(buckets[0].start), last - 1999 * step);
  const out = [];
  for (let t = first; t <= last; t += step) {
    out.push(byStart.get(t) || { start: new Date(t).toISOString(), count: 0, by_outcome: {} });
  }
  return out;
}

/** Draws `answer` (the count API's, with buckets) into `box`. */
export function drawChart(box, answer, unit) {
  box.replaceChildren();
  const series = dense(answer.buckets || [], unit);
  if (!series.length) {
    box.append(el('p', 'No events match.', { class: 'quiet' }));
    return;
  }
  const width = 900;
  const height = 160;
  const max = Math.max(...series.map((b) => b.count), 1);
  const bar = width / series.length;
  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${height + 20}`,
    role: 'img',
    'aria-labelledby': 'chart-title',
    preserveAspectRatio: 'none',
  });
  const title = svg('title', { id: 'chart-title' });
  title.textContent = `${answer.count} events in ${series.length} ${unit}s, most in one ${unit}: ${max}`;
  chart.append(title);
  series.forEach((b, i) => {
    let y = height;
    for (const outcome of OUTCOMES) {
      const n = b.by_outcome[outcome] || 0;
      if (!n) continue;
      const h = (n / max) * height;
      y -= h;
      const rect = svg('rect', {
        x: (i * bar).toFixed(2),
        y: y.toFixed(2),
        width: Math.max(bar - 1, 0.5).toFixed(2),
        height: h.toFixed(2),
        class: `bar-${outcome}`,
      });
      const tip = svg('title', {});
      tip.textContent = `${b.start}: ${n} ${outcome}`;
      rect.append(tip);
      chart.append(rect);
    }
  });
  const axis = svg('text', { x: 0, y: height + 16, class: 'axis' });
  axis.textContent = series[0].start.slice(0, unit === 'hour' ? 13 : 10);
  const end = svg('text', { x: width, y: height + 16, class: 'axis', 'text-anchor': 'end' });
  end.textContent = series[series.length - 1].start.slice(0, unit === 'hour' ? 13 : 10);
  chart.append(axis, end);
  const legend = el('ul', null, { class: 'legend', 'aria-hidden': 'true' });
  for (const outcome of OUTCOMES) {
    const item = el('li');
    item.append(el('span', '', { class: `swatch bar-${outcome}` }), ` ${outcome}`);
    legend.append(item);
  }
  // The numbers, for those who cannot see the bars.
  const table = el('table', null, { class: 'sr-only' });
  table.append(el('caption', `Events per ${unit} (UTC), by outcome`));
  const head = el('tr');
  for (const name of [unit, 'all', ...OUTCOMES]) head.append(el('th', name, { scope: 'col' }));
  table.append(head);
  for (const b of series.filter((s) => s.count)) {
    const row = el('tr');
    row.append(el('th', b.start, { scope: 'row' }), el('td', String(b.count)));
    for (const outcome of OUTCOMES) row.append(el('td', String(b.by_outcome[outcome] || 0)));
    table.append(row);
  }
  box.append(chart, legend, table);
}

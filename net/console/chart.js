// Line charts in SVG over a database's metrics history: one per figure,
// sharing a time axis (the last hour, or less when there is less history).

import { h } from './ui.js';

const svgNs = 'http://www.w3.org/2000/svg';
const width = 560, height = 170, left = 52, right = 12, top = 12, bottom = 24;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

/** A round upper bound for the axis, at least `floor`. */
function niceMax(max, floor) {
  if (!(max > floor)) return floor;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

/**
 * A chart titled `title` of `points` ({at, ...}: `at` in µs since the epoch); each of `series`
 * ({key, label, className}) is a line. `format` writes a value for the axis
 * and legend.
 */
export function lineChart(title, points, series, { format = (v) => String(+v.toFixed(2)), floor = 1 } = {}) {
  const plotW = width - left - right, plotH = height - top - bottom;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title });
  const t0 = points.length ? points[0].at : 0, t1 = points.length ? points[points.length - 1].at : 1;
  const span = Math.max(t1 - t0, 1);
  const max = niceMax(points.reduce((m, p) => series.reduce((n, s) => Math.max(n, p[s.key] ?? 0), m), 0), floor);
  const x = (at) => left + ((at - t0) / span) * plotW;
  const y = (v) => top + plotH - (v / max) * plotH;

  for (const f of [0, 0.5, 1]) {
    root.append(svg('line', { x1: left, x2: width - right, y1: y(max * f), y2: y(max * f), class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y(max * f) + 4, class: 'axis', 'text-anchor': 'end' }, format(max * f)));
  }
  if (points.length) {
    const seconds = span < 600e6 ? { second: '2-digit' } : {};
    const label = (at) => new Date(at / 1000).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit', ...seconds });
    root.append(svg('text', { x: left, y: height - 6, class: 'axis' }, label(t0)));
    root.append(svg('text', { x: width - right, y: height - 6, class: 'axis', 'text-anchor': 'end' }, label(t1)));
  }
  for (const s of series) {
    const coords = points.map((p) => `${x(p.at).toFixed(1)},${y(p[s.key] ?? 0).toFixed(1)}`);
    if (coords.length === 1) coords.push(`${(width - right).toFixed(1)},${coords[0].split(',')[1]}`);
    if (coords.length) root.append(svg('polyline', { points: coords.join(' '), class: `line ${s.className}` }));
  }
  const last = points[points.length - 1];
  return h('figure', { class: 'chart-card' },
    h('figcaption', {}, h('span', { class: 'chart-title' }, title),
      h('span', { class: 'legend' }, series.map((s) =>
        h('span', { class: `key ${s.className}` }, `${s.label} `, h('b', {}, last ? format(last[s.key] ?? 0) : '—'))))),
    points.length ? root : h('div', { class: 'chart-empty' }, 'No figures yet: the first point comes within one sampling interval.'));
}

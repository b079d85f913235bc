// Small DOM and formatting helpers shared by the pages.

/** Builds an element: h('td', {class: 'num'}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function shortId(hex) {
  return hex ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : '';
}

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export function micros(us) {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function time(usSinceEpoch) {
  if (!usSinceEpoch) return '—';
  return new Date(usSinceEpoch / 1000).toLocaleString(undefined, { hour12: false });
}

export function clock(usSinceEpoch) {
  const d = new Date(usSinceEpoch / 1000);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

/** A cell's text for a value as SQL answers it (SATS JSON). */
export function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  const keys = Object.keys(v);
  if (keys.length === 1) {
    const [k] = keys;
    if (k === '__identity__' || k === '__connection_id__') return String(v[k]);
    if (k === '__timestamp_micros_since_unix_epoch__') return new Date(Number(v[k]) / 1000).toISOString();
    if (k === 'some') return cellText(v[k]);
    if (k === 'none') return 'none';
  }
  return JSON.stringify(v);
}

/** A table of `columns` (names) and `rows` (arrays of cells or nodes). */
export function dataTable(columns, rows, { className = '' } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: `data ${className}` },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c instanceof Node ? c : cellText(c))))))));
}

export function notice(text, kind = 'info') {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** The message to show for a failed call: the host's own, with its status. */
export function problem(err) {
  if (err?.status === 403 || err?.status === 401) return notice(`Not allowed: ${err.message}`, 'refused');
  return notice(err?.status ? `${err.status}: ${err.message}` : String(err?.message ?? err), 'error');
}

// Overview: a database's last hour in charts (calls and errors, durations,
// clients, subscriptions, rows, memory, commits and fsyncs), refreshed as
// the host samples it.

import { api } from './api.js';
import { lineChart } from './chart.js';
import { bytes, h, problem, shortId, time } from './ui.js';

const refreshMs = 5000;

function charts(history) {
  const rate = { format: (v) => (v >= 10 ? String(Math.round(v)) : String(+v.toFixed(2))) };
  const count = { format: (v) => String(Math.round(v)), floor: 2 };
  return [
    lineChart('Calls per second', history, [
      { key: 'calls_per_s', label: 'calls', className: 's1' },
      { key: 'errors_per_s', label: 'errors', className: 's-bad' }], rate),
    lineChart('Reducer duration (ms)', history, [
      { key: 'p50_ms', label: 'p50', className: 's1' },
      { key: 'p99_ms', label: 'p99', className: 's2' }], { format: (v) => String(+v.toFixed(2)) }),
    lineChart('Connected clients', history, [{ key: 'clients', label: 'clients', className: 's1' }], count),
    lineChart('Subscribed queries', history, [{ key: 'subscriptions', label: 'queries', className: 's2' }], count),
    lineChart('Rows', history, [{ key: 'rows', label: 'rows', className: 's1' }], count),
    lineChart('Memory', history, [{ key: 'memory_bytes', label: 'memory', className: 's2' }],
      { format: bytes, floor: 1024 }),
    lineChart('Commits and fsyncs per second', history, [
      { key: 'commits_per_s', label: 'commits', className: 's1' },
      { key: 'host_fsyncs_per_s', label: 'host fsyncs', className: 's3' }], rate),
  ];
}

export async function overviewPage(page, database) {
  const info = await api(`/v1/database/${encodeURIComponent(database)}`);
  page.append(h('div', { class: 'page-head' }, h('h1', {}, database),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Identity'), h('dd', { class: 'mono', title: info.database_identity }, shortId(info.database_identity)),
      h('dt', {}, 'Owner'), h('dd', { class: 'mono', title: info.owner_identity }, shortId(info.owner_identity)),
      h('dt', {}, 'Module'), h('dd', { class: 'mono', title: info.module_hash }, info.module_hash.slice(0, 12)),
      h('dt', {}, 'Updated'), h('dd', {}, time(info.updated_micros)))));
  const grid = h('div', { class: 'charts' });
  page.append(grid);
  const refresh = async () => {
    try {
      const { history } = await api(`/v1/database/${encodeURIComponent(database)}/metrics`);
      grid.replaceChildren(...charts(history));
    } catch (err) {
      grid.replaceChildren(problem(err));
      if (err.status === 401 || err.status === 403) clearInterval(timer);  // refused: asking again will not help
    }
  };
  const timer = setInterval(refresh, refreshMs);
  await refresh();
  return () => clearInterval(timer);
}

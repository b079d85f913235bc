// Logs: the live tail, filtered by level as lines arrive; or a search of the
// kept history by text, level and time range, done by the host.

import { api, followLog, parseJson } from './api.js';
import { clock, h, notice, problem, time } from './ui.js';

const levels = ['trace', 'debug', 'info', 'warn', 'error', 'panic'];
const shownLive = 500;

function lineView(l) {
  return h('div', { class: `log-line ${l.level?.toLowerCase()}` },
    h('span', { class: 'ts', title: time(l.ts) }, clock(l.ts)),
    h('span', { class: 'level' }, (l.level ?? '').toUpperCase()),
    l.target ? h('span', { class: 'target' }, l.target) : null,
    h('span', { class: 'message' }, l.message));
}

/** Microseconds since the epoch of a datetime-local input's value, or ''. */
function epochMicros(input) {
  return input.value ? String(new Date(input.value).getTime() * 1000) : '';
}

export async function logsPage(page, database) {
  const base = `/v1/database/${encodeURIComponent(database)}/logs`;
  const level = h('select', { id: 'log-level' }, h('option', { value: '' }, 'all levels'),
    levels.map((l) => h('option', { value: l }, `${l} and up`)));
  const grep = h('input', { id: 'log-grep', type: 'search', placeholder: 'text to find', spellcheck: 'false' });
  const since = h('input', { id: 'log-since', type: 'datetime-local', step: 1 });
  const until = h('input', { id: 'log-until', type: 'datetime-local', step: 1 });
  const mode = h('span', { class: 'mode', id: 'log-mode' });
  const lines = h('div', { class: 'log', id: 'log-lines' });
  let stop = null;

  const rank = (l) => levels.indexOf((l.level ?? '').toLowerCase());
  const live = () => {
    stop?.();
    const controller = new AbortController();
    stop = () => controller.abort();
    mode.replaceChildren(h('span', { class: 'live-dot' }), 'Live: new lines appear as they are written');
    lines.replaceChildren();
    followLog(database, 100, (l) => {
      if (level.value && rank(l) < levels.indexOf(level.value)) return;
      lines.append(lineView(l));
      while (lines.children.length > shownLive) lines.firstChild.remove();
      lines.scrollTop = lines.scrollHeight;
    }, controller.signal).catch((err) => {
      if (!controller.signal.aborted) lines.replaceChildren(problem(err));
    });
  };
  const search = async (event) => {
    event?.preventDefault();
    stop?.();
    stop = null;
    const query = new URLSearchParams({ num_lines: '1000' });
    if (grep.value) query.set('grep', grep.value);
    if (level.value) query.set('level', level.value);
    if (epochMicros(since)) query.set('since', epochMicros(since));
    if (epochMicros(until)) query.set('until', epochMicros(until));
    mode.replaceChildren('Search results (newest last, at most 1000)');
    try {
      const text = await api(`${base}?${query}`, { as: 'text' });
      const found = text.split('\n').filter(Boolean).map(parseJson);
      lines.replaceChildren(...(found.length ? found.map(lineView) : [notice('No kept line matches.')]));
    } catch (err) {
      lines.replaceChildren(problem(err));
    }
  };

  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Logs')),
    h('form', { class: 'inline log-controls', onsubmit: search },
      grep, level, h('label', {}, 'from ', since), h('label', {}, 'to ', until),
      h('button', { type: 'submit', id: 'log-search' }, 'Search'),
      h('button', { type: 'button', id: 'log-live', onclick: live }, 'Live tail')),
    mode, lines);
  level.addEventListener('change', () => (stop ? live() : search()));
  // Only the owner reads logs: ask once, to say so plainly rather than show an empty tail.
  try {
    await api(`${base}?num_lines=1`, { as: 'text' });
  } catch (err) {
    lines.replaceChildren(problem(err));
    return;
  }
  live();
  return () => stop?.();
}

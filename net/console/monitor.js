// Query monitor: the queries clients subscribe to now, with how many follow
// each and what evaluating them costs; and the last calls of reducers, with
// caller, duration, outcome and error.

import { api } from './api.js';
import { clock, dataTable, h, micros, notice, problem, shortId } from './ui.js';

const refreshMs = 2000;

export async function monitorPage(page, database) {
  const base = `/v1/database/${encodeURIComponent(database)}`;
  const queries = h('section', { id: 'monitor-queries' });
  const calls = h('section', { id: 'monitor-calls' });
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Query monitor')),
    h('h2', {}, 'Subscribed queries'), queries, h('h2', {}, 'Recent reducer calls'), calls);
  const refresh = async () => {
    try {
      const [subscribed, metrics] = await Promise.all([api(`${base}/subscriptions`), api(`${base}/metrics`)]);
      queries.replaceChildren(subscribed.queries.length
        ? dataTable(['Query', 'Subscribers', 'Evaluations', 'Mean cost', 'Total cost', 'Rows produced'],
            subscribed.queries.map((q) => [h('code', {}, q.query), q.subscribers, q.evaluations,
              micros(q.evaluations ? q.evaluation_micros / q.evaluations : 0), micros(q.evaluation_micros), q.rows]),
            { className: 'queries' })
        : notice('No client is subscribed now.'));
      const recent = metrics.recent_calls.slice().reverse();
      calls.replaceChildren(recent.length
        ? dataTable(['Time', 'Reducer', 'Caller', 'Duration', 'Outcome', 'Error'],
            recent.map((c) => [clock(c.at), c.function, h('span', { class: 'mono', title: c.caller }, shortId(c.caller)),
              micros(c.micros), h('span', { class: `outcome ${c.outcome}` }, c.outcome.replace('_', ' ')), c.error]),
            { className: 'calls' })
        : notice('No reducer has been called since the host started.'));
    } catch (err) {
      queries.replaceChildren(problem(err));
      calls.replaceChildren();
      if (err.status === 401 || err.status === 403) clearInterval(timer);  // refused: asking again will not help
    }
  };
  const timer = setInterval(refresh, refreshMs);
  await refresh();
  return () => clearInterval(timer);
}

// Databases: the ones the signed-in identity owns or holds a role on, with
// that role, their state, size, module and times; and a way to open anyone's
// database by name.

import { api, session } from './api.js';
import { bytes, h, shortId, time } from './ui.js';

async function describe({ identity, role }) {
  const [info, usage] = await Promise.all([
    api(`/v1/database/${identity}`),
    api(`/v1/database/${identity}/usage`).catch(() => null),
  ]);
  return { ...info, role, usage };
}

export async function databasesPage(page) {
  const open = h('input', { id: 'open-name', placeholder: 'name or identity', spellcheck: 'false' });
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Databases'),
    h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); if (open.value.trim()) location.hash = `#/db/${encodeURIComponent(open.value.trim())}/overview`; } },
      open, h('button', { type: 'submit' }, 'Open'))));
  const { databases } = await api('/v1/access/databases');
  if (!databases.length) {
    page.append(h('div', { class: 'empty card' }, h('p', {}, 'You own no databases on this host, and none is shared with you.'),
      h('p', {}, 'Publish one with ', h('code', {}, 'orrery publish <name>'), ', or open someone else\'s by name above.')));
    return;
  }
  const rows = (await Promise.all(databases.map(describe))).sort((a, b) => (a.names[0] ?? '~').localeCompare(b.names[0] ?? '~'));
  page.append(h('div', { class: 'table-wrap' }, h('table', { class: 'data databases' },
    h('thead', {}, h('tr', {}, ['Name', 'Identity', 'Owner', 'Your role', 'State', 'Size', 'Module', 'Created', 'Updated'].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((d) => {
      const target = d.names[0] ?? d.database_identity;
      const state = d.usage?.state ?? 'unknown';
      return h('tr', {},
        h('td', {}, h('a', { href: `#/db/${encodeURIComponent(target)}/overview`, class: 'db-link' }, d.names[0] ?? shortId(d.database_identity)),
          d.locked ? h('span', { class: 'tag' }, 'locked') : null),
        h('td', { class: 'mono', title: d.database_identity }, shortId(d.database_identity)),
        h('td', { class: 'mono', title: d.owner_identity }, d.owner_identity === session.identity ? 'you' : shortId(d.owner_identity)),
        h('td', {}, d.role),
        h('td', {}, h('span', { class: `state ${state}` }, state)),
        h('td', { class: 'num' }, d.usage && state === 'awake' ? bytes(d.usage.memory_bytes) : '—'),
        h('td', { class: 'mono', title: d.module_hash }, d.module_hash.slice(0, 12)),
        h('td', {}, time(d.created_micros)),
        h('td', {}, time(d.updated_micros)));
    })))));
}

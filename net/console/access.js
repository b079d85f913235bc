// Access: who owns the database and what the signed-in identity, and anyone
// else, may do with it.

import { api, session } from './api.js';
import { dataTable, h, shortId } from './ui.js';

const abilities = [
  ['Read public tables (SQL, subscriptions), within row-level security', true, true],
  ['Call reducers and procedures (the module decides)', true, true],
  ['Read private tables and subscribe to them', true, false],
  ['Change rows with SQL (INSERT, UPDATE, DELETE)', true, false],
  ['Read and search logs, metrics and the query monitor', true, false],
  ['Publish a new module, rename, lock', true, false],
  ['Delete the database', true, false],
];

export async function accessPage(page, database) {
  const info = await api(`/v1/database/${encodeURIComponent(database)}`);
  const owner = info.owner_identity === session.identity;
  const yes = (v) => h('span', { class: v ? 'yes' : 'no' }, v ? 'yes' : 'no');
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Access')),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Owner'), h('dd', { class: 'mono', title: info.owner_identity }, info.owner_identity),
      h('dt', {}, 'You'), h('dd', { class: 'mono', title: session.identity }, `${shortId(session.identity)} (${owner ? 'owner' : 'not the owner'})`)),
    dataTable(['Action', 'Owner', 'Anyone else'], abilities.map(([what, o, other]) => [what, yes(o), yes(other)]), { className: 'access' }));
}

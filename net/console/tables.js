// Tables: each table's schema, then its rows a page at a time, filtered by a
// WHERE condition. Rows come through SQL as the signed-in identity, so a
// private table's rows reach only those whose role reads private data;
// others are not shown it.

import { api, sql } from './api.js';
import { dataTable, h, notice, problem } from './ui.js';
import { quoted, tablesOf } from './schema.js';

const pageSize = 50;

function schemaView(table) {
  const role = (c) => [
    table.primaryKey.includes(c.name) ? 'primary key' : null,
    table.autoInc.includes(c.name) ? 'auto-increment' : null,
    !table.primaryKey.includes(c.name) && table.unique.some((u) => u.length === 1 && u[0] === c.name) ? 'unique' : null,
  ].filter(Boolean).join(', ');
  return h('div', { class: 'schema' },
    dataTable(['Column', 'Type', ''], table.columns.map((c) => [c.name, h('code', {}, c.type), role(c)]), { className: 'compact' }),
    table.indexes.length ? h('p', { class: 'hint' }, 'Indexes: ',
      table.indexes.map((ix) => `${ix.algorithm.toLowerCase()} (${ix.columns.join(', ')})`).join('; ')) : null);
}

function rowsView(database, table) {
  const filter = h('input', { id: 'row-filter', placeholder: 'WHERE condition, e.g. id > 10', spellcheck: 'false' });
  const body = h('div', { class: 'rows' });
  let offset = 0;
  let loading = 0;  // counts loads: only the latest one shows
  const load = async () => {
    const mine = ++loading, at = offset;
    for (const b of body.querySelectorAll('button')) b.disabled = true;
    const where = filter.value.trim() ? ` WHERE ${filter.value.trim()}` : '';
    // Ordered by the primary key, pages stay put while rows are written between them.
    const order = table.primaryKey.length ? ` ORDER BY ${table.primaryKey.map(quoted).join(', ')}` : '';
    try {
      const [[page], [count]] = await Promise.all([
        sql(database, `SELECT * FROM ${quoted(table.name)}${where}${order} LIMIT ${pageSize} OFFSET ${at}`),
        sql(database, `SELECT COUNT(*) AS n FROM ${quoted(table.name)}${where}`),
      ]);
      if (mine !== loading) return;
      const total = Number(count.rows[0][0]);
      const columns = page.schema.elements.map((e) => e.name?.some ?? '');
      const go = (to) => () => { offset = to; load(); };
      body.replaceChildren(
        h('div', { class: 'pager' },
          h('span', { class: 'count' }, page.rows.length ? `Rows ${at + 1}–${at + page.rows.length} of ${total}` : `No rows (of ${total})`),
          h('button', { disabled: at === 0, onclick: go(Math.max(0, at - pageSize)) }, 'Previous'),
          h('button', { disabled: at + pageSize >= total, onclick: go(at + pageSize) }, 'Next')),
        dataTable(columns, page.rows, { className: 'rows-table' }));
    } catch (err) {
      if (mine === loading) body.replaceChildren(problem(err));
    }
  };
  return [h('form', { class: 'inline filter', onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    filter, h('button', { type: 'submit' }, 'Filter')), body, load];
}

export async function tablesPage(page, database) {
  const [access, def] = await Promise.all([
    api(`/v1/database/${encodeURIComponent(database)}/access`).catch(() => null),  // refused: no role
    api(`/v1/database/${encodeURIComponent(database)}/schema?version=9`),
  ]);
  const readsPrivate = !!access && access.your_role !== 'none';  // every role reads private tables
  const all = tablesOf(def);
  const tables = readsPrivate ? all : all.filter((t) => t.isPublic);
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Tables')));
  if (!readsPrivate && tables.length < all.length)
    page.append(notice(`${all.length - tables.length} private table(s) are shown only to those with a role on this database.`));
  if (!tables.length) return page.append(h('div', { class: 'empty card' }, 'No tables to show.'));
  const list = h('nav', { class: 'table-list' });
  const detail = h('section', { class: 'table-detail' });
  page.append(h('div', { class: 'split' }, list, detail));
  const show = (table) => {
    for (const a of list.children) a.classList.toggle('active', a.dataset.table === table.name);
    const [form, rows, load] = rowsView(database, table);
    detail.replaceChildren(
      h('h2', {}, table.name, h('span', { class: `tag ${table.isPublic ? 'public' : 'private'}` }, table.isPublic ? 'public' : 'private'),
        table.isEvent ? h('span', { class: 'tag' }, 'event') : null),
      schemaView(table), h('h3', {}, 'Rows'), form, rows);
    load();
  };
  for (const table of tables)
    list.append(h('a', { href: '#', 'data-table': table.name, onclick: (e) => { e.preventDefault(); show(table); } }, table.name));
  show(tables[0]);
}

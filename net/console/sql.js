// SQL console: runs statements as the signed-in identity and shows each
// result as a table. The host decides what that identity may read and
// change (DML is for the owner).

import { sql } from './api.js';
import { dataTable, h, micros, problem } from './ui.js';

export async function sqlPage(page, database) {
  const editor = h('textarea', { id: 'sql-text', rows: 5, spellcheck: 'false', placeholder: 'SELECT * FROM ...' });
  editor.value = sessionStorage.getItem(`orrery.sql.${database}`) ?? '';
  const results = h('div', { class: 'results' });
  const run = async () => {
    const text = editor.value.trim();
    if (!text) return;
    sessionStorage.setItem(`orrery.sql.${database}`, text);
    results.replaceChildren(h('p', { class: 'hint' }, 'Running…'));
    try {
      const answers = await sql(database, text);
      results.replaceChildren(...answers.map((r) => {
        const columns = r.schema.elements.map((e) => e.name?.some ?? '');
        const s = r.stats ?? {};
        const changed = (s.rows_inserted ?? 0) + (s.rows_deleted ?? 0) + (s.rows_updated ?? 0);
        return h('div', { class: 'result' },
          h('p', { class: 'hint' }, columns.length ? `${r.rows.length} row(s)` : `${changed} row(s) changed`,
            ` · ${micros(r.total_duration_micros)}`, s.rows_scanned !== undefined ? ` · ${s.rows_scanned} scanned` : ''),
          columns.length ? dataTable(columns, r.rows, { className: 'sql-result' }) : null);
      }));
    } catch (err) {
      results.replaceChildren(problem(err));
    }
  };
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'SQL')),
    h('div', { class: 'card' }, editor,
      h('div', { class: 'actions' }, h('button', { class: 'primary', id: 'sql-run', onclick: run }, 'Run'),
        h('span', { class: 'hint' }, 'Ctrl+Enter runs. Reads follow table visibility; changing rows is for the owner.'))),
    results);
}

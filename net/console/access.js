// Access: the owner, each role granted (on the database, or on its project)
// and, for admins, granting and revoking. The host decides every change.

import { api } from './api.js';
import { dataTable, h, notice, problem, shortId } from './ui.js';

export async function accessPage(page, database) {
  const base = `/v1/database/${encodeURIComponent(database)}/access`;
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Access')));
  const body = h('div', {});
  page.append(body);
  const show = async (view) => {
    view ??= await api(base);
    const manages = view.your_role === 'admin' || view.your_role === 'owner';
    const status = h('div', {});
    const revoke = (grantee) => async () => {
      try {
        await show(await api(`${base}/${encodeURIComponent(grantee)}`, { method: 'DELETE' }));
      } catch (err) {
        status.replaceChildren(problem(err));
      }
    };
    const rows = [[h('span', { class: 'mono', title: view.owner }, shortId(view.owner)), 'owner', 'database', '']];
    for (const g of view.grants) {
      const who = g.grantee.startsWith('team:') ? g.grantee : h('span', { class: 'mono', title: g.grantee }, shortId(g.grantee));
      const revocable = manages && g.on === 'database';
      rows.push([who, g.role, g.on, revocable ? h('button', { class: 'revoke', onclick: revoke(g.grantee) }, 'Revoke') : '']);
    }
    const grantee = h('input', { id: 'grantee', placeholder: 'hex identity or team:name', spellcheck: 'false' });
    const level = h('select', { id: 'grant-role' }, ['viewer', 'developer', 'admin'].map((r) => h('option', { value: r }, r)));
    const grant = async (e) => {
      e.preventDefault();
      try {
        await show(await api(base, { method: 'POST', body: JSON.stringify({ grantee: grantee.value.trim(), role: level.value }) }));
      } catch (err) {
        status.replaceChildren(problem(err));
      }
    };
    body.replaceChildren(
      h('dl', { class: 'facts' },
        h('dt', {}, 'Your role'), h('dd', {}, view.your_role),
        h('dt', {}, 'Project'), h('dd', {}, view.project ?? 'none')),
      dataTable(['Who', 'Role', 'Granted on', ''], rows, { className: 'access' }),
      ...(manages ? [h('form', { class: 'inline grant', onsubmit: grant }, grantee, level, h('button', { type: 'submit', class: 'primary' }, 'Grant'))] : []),
      status,
      h('p', { class: 'hint' }, 'Viewers read private tables, logs and figures; developers also publish and change rows; ',
        'admins also manage access, names and locks; only the owner deletes or transfers the database.'));
  };
  try {
    await show();
  } catch (err) {
    body.replaceChildren(err.status === 403
      ? notice('You hold no role on this database: you may read its public tables and call its reducers.', 'refused')
      : problem(err));
  }
}

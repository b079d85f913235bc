// Teams and projects: the signed-in identity's projects (their databases and
// grants) and teams (their members), with forms to create them and change
// what they hold. The host decides every change (only a database's owner puts
// it in a project; only a team's owner changes its members).

import { api } from './api.js';
import { dataTable, h, notice, problem, shortId } from './ui.js';

const mono = (hex) => h('span', { class: 'mono', title: hex }, shortId(hex));

export async function sharingPage(page) {
  const status = h('div', {});
  const body = h('div', {});
  page.append(h('div', { class: 'page-head' }, h('h1', {}, 'Teams and projects')), status, body);
  // Runs a change, then shows the lists again (or the host's refusal).
  const change = (method, route, value) => async (e) => {
    e.preventDefault();
    status.replaceChildren();
    try {
      await api(route, { method, body: value() });
      await show();
    } catch (err) {
      status.replaceChildren(problem(err));
    }
  };
  const field = (placeholder) => h('input', { placeholder, spellcheck: 'false' });
  const show = async () => {
    const [{ projects }, { teams }] = await Promise.all([api('/v1/projects'), api('/v1/teams')]);
    const newProject = field('new project name'), newTeam = field('new team name');
    body.replaceChildren(
      h('h2', {}, 'Projects'),
      ...(projects.length ? [] : [notice('You hold no role on any project.')]),
      ...projects.map((p) => {
        const database = field('database you own');
        const grantee = field('hex identity or team:name');
        const level = h('select', {}, ['viewer', 'developer', 'admin'].map((r) => h('option', { value: r }, r)));
        const base = `/v1/projects/${encodeURIComponent(p.name)}`;
        return h('section', { class: 'card sharing', 'data-project': p.name },
          h('h3', {}, `${p.name} · your role: ${p.your_role}`),
          h('p', {}, 'Databases: ', p.databases.length ? p.databases.join(', ') : 'none'),
          dataTable(['Grantee', 'Role', 'Members'], p.grants.map((g) =>
            [g.grantee.startsWith('team:') ? g.grantee : mono(g.grantee), g.role, (g.members ?? []).map(shortId).join(', ')])),
          h('form', { class: 'inline', onsubmit: change('POST', `${base}/databases`, () => database.value.trim()) },
            database, h('button', { type: 'submit' }, 'Add database')),
          h('form', { class: 'inline', onsubmit: change('POST', `${base}/access`,
            () => JSON.stringify({ grantee: grantee.value.trim(), role: level.value })) },
          grantee, level, h('button', { type: 'submit' }, 'Grant on project')));
      }),
      h('form', { class: 'inline', onsubmit: change('POST', '/v1/projects', () => newProject.value.trim()) },
        newProject, h('button', { type: 'submit', class: 'primary' }, 'Create project')),
      h('h2', {}, 'Teams'),
      ...(teams.length ? [] : [notice('You own or belong to no team.')]),
      ...teams.map((t) => {
        const member = field('member hex identity');
        const base = `/v1/teams/${encodeURIComponent(t.name)}/members`;
        return h('section', { class: 'card sharing', 'data-team': t.name },
          h('h3', {}, t.name, ' · owner ', mono(t.owner)),
          dataTable(['Member', ''], t.members.map((m) => [mono(m),
            h('button', { class: 'revoke', onclick: change('DELETE', `${base}/${m}`, () => undefined) }, 'Remove')])),
          h('form', { class: 'inline', onsubmit: change('POST', base, () => member.value.trim()) },
            member, h('button', { type: 'submit' }, 'Add member')));
      }),
      h('form', { class: 'inline', onsubmit: change('POST', '/v1/teams', () => newTeam.value.trim()) },
        newTeam, h('button', { type: 'submit', class: 'primary' }, 'Create team')));
  };
  await show();
}

// The console's shell: sign-in, the top bar, a database's sidebar, and the
// page for the current address (#/, #/sharing or #/db/<database>/<page>).

import { ApiError, api, identityOf, session } from './api.js';
import { h, problem, shortId } from './ui.js';
import { databasesPage } from './databases.js';
import { overviewPage } from './overview.js';
import { tablesPage } from './tables.js';
import { sqlPage } from './sql.js';
import { logsPage } from './logs.js';
import { monitorPage } from './monitor.js';
import { accessPage } from './access.js';
import { sharingPage } from './sharing.js';
import { signInPage } from './signin.js';

const databasePages = [
  ['overview', 'Overview', overviewPage],
  ['tables', 'Tables', tablesPage],
  ['sql', 'SQL', sqlPage],
  ['logs', 'Logs', logsPage],
  ['monitor', 'Query monitor', monitorPage],
  ['access', 'Access', accessPage],
];

let leavePage = null;  // stops the current page's timers and streams
let shown = 0;  // counts routes, so a page that finishes loading after the next one began stops at once

/** Signs in with a one-time code from `orrery console` (#code=...), once. */
async function redeemCode() {
  const code = new URLSearchParams(location.hash.slice(1)).get('code');
  if (!code) return null;
  history.replaceState(null, '', '#/');
  // Someone else's link would sign this browser in as them: ask first.
  if (session.token && !confirm('This link signs the console in as another session, replacing yours. Go on?')) return null;
  try {
    const { token } = await api('/v1/console/redeem', { method: 'POST', body: code, token: null });
    session.save(token, await identityOf(token));
    return null;
  } catch (err) {
    return err instanceof ApiError ? err : new Error(String(err));
  }
}

function renderTopbar(database) {
  const crumbs = document.getElementById('crumbs');
  crumbs.replaceChildren(h('a', { href: '#/' }, 'Databases'), h('a', { href: '#/sharing' }, 'Teams and projects'),
    ...(database ? [h('span', { class: 'sep' }, '/'), h('a', { href: `#/db/${encodeURIComponent(database)}/overview` }, database)] : []));
  const who = document.getElementById('who');
  who.replaceChildren();
  if (session.token) {
    who.append(h('span', { class: 'identity', title: session.identity }, shortId(session.identity)),
      h('button', { class: 'quiet', onclick: () => { session.clear(); route(); } }, 'Sign out'));
  }
}

function renderSidebar(database, current) {
  const sidebar = document.getElementById('sidebar');
  sidebar.hidden = !database;
  if (!database) return sidebar.replaceChildren();
  sidebar.replaceChildren(h('div', { class: 'sidebar-title', title: database }, database),
    ...databasePages.map(([key, label]) =>
      h('a', { href: `#/db/${encodeURIComponent(database)}/${key}`, class: key === current ? 'active' : undefined, 'data-page': key }, label)));
}

/** The address's parts: ['db', database, page], or [] for the databases list. */
function addressParts() {
  try {
    return location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  } catch {
    return [];  // a malformed address shows the databases
  }
}

async function route(signInError = null) {
  leavePage?.();
  leavePage = null;
  const mine = ++shown;
  const main = document.getElementById('main');
  const [first, database, pageKey = 'overview'] = addressParts();
  if (!session.token) {
    renderTopbar(null);
    renderSidebar(null);
    main.replaceChildren(signInPage(signInError, route));
    return;
  }
  const db = first === 'db' && database ? database : null;
  renderTopbar(db);
  const page = databasePages.find(([key]) => key === pageKey) ?? databasePages[0];
  renderSidebar(db, page[0]);
  const container = h('div', { class: 'page' });
  main.replaceChildren(container);
  try {
    const leave = db ? await page[2](container, db)
      : first === 'sharing' ? await sharingPage(container) : await databasesPage(container);
    if (mine === shown) leavePage = leave;
    else leave?.();
  } catch (err) {
    container.append(problem(err));
  }
}

window.addEventListener('hashchange', () => route());
window.addEventListener('orrery-signed-out', () => route(new Error('The session ended: sign in again.')));
redeemCode().then((err) => route(err));

// The web console in a real browser (Debian's Chromium, driven by
// playwright-core) against a real host: sign-in, databases, tables, SQL, the
// live log and its search, the query monitor, charts, and what a stranger
// cannot see. Screenshots of each page go to <build>/console-screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { cli, connectClient, ok, orreryBin, removeDir, sdkBindings, startHost, subscribeTo, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
const shots = path.join(path.dirname(orreryBin), 'console-screenshots');
// A reducer's log line reaches an open live tail within this of the call's reply (the sanitized build runs
// several times slower).
const tailMs = process.env.ORRERY_SANITIZED === '1' ? 5000 : 1000;

let dataDir, host, me, stranger, browser, page;
const run = (configDir, ...args) => cli(configDir, [...args, '-s', host.url]);
const serverOf = (configDir) =>
  JSON.parse(readFileSync(path.join(configDir, 'config.json'), 'utf8')).servers.find((s) => s.url === host.url);
const tokenOf = (configDir) => serverOf(configDir).token;
const shoot = (name, p = page) => p.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
/** Opens the console at `hash` afresh (a new hash on the same page would keep the last page's state). */
async function visit(hash, p = page) {
  await p.goto('about:blank');
  await p.goto(`${host.url}/${hash}`);
}

/** The owner's SQL over HTTP: the rows of the first result. */
async function sqlRows(text) {
  const res = await fetch(`${host.url}/v1/database/shelf/sql`, {
    method: 'POST', body: text, headers: { Authorization: `Bearer ${tokenOf(me)}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json())[0].rows;
}

/** The cells of a table's body rows as text. */
const cellsOf = (p, selector) =>
  p.$$eval(`${selector} tbody tr`, (rows) => rows.map((r) => [...r.children].map((td) => td.textContent)));

before(async () => {
  mkdirSync(shots, { recursive: true });
  dataDir = tempDir('console');
  me = tempDir('console-me');
  stranger = tempDir('console-stranger');
  // Databases stay awake (the page shows their state), and the charts get a point a second.
  host = await startHost(dataDir, '127.0.0.1:0', ['--metrics-interval', '1', '--idle-timeout', '0']);
  ok(run(me, 'publish', 'lobby', '-j', path.join(bundles, 'chat.js')));
  ok(run(me, 'publish', 'shelf', '-j', path.join(bundles, 'library.js')));
  ok(run(me, 'call', 'shelf', 'add_author', '1', '"Ursula"'));
  ok(run(me, 'call', 'shelf', 'add_author', '2', '"Italo"'));
  const books = Array.from({ length: 55 }, (_, i) => `(${i + 1}, ${1 + (i % 2)}, 'Book ${i + 1}')`).join(', ');
  ok(run(me, 'sql', 'shelf', `INSERT INTO book VALUES ${books}`));
  ok(run(me, 'call', 'lobby', 'send_message', '"an old needle-7731 line"'));
  ok(run(me, 'publish', 'quotes', '-j', path.join(bundles, 'procedures.js')));
  ok(run(stranger, 'login'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
});

after(async () => {
  await browser?.close();
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
  removeDir(stranger);
});

test('orrery console prints a one-time link that signs the console in', async () => {
  const link = ok(run(me, 'console')).trim();
  assert.match(link, new RegExp(`^${host.url}/#code=[0-9a-f]{48}$`));
  await page.goto(link);
  await page.waitForSelector('table.databases');
  const rows = await cellsOf(page, 'table.databases');
  assert.deepEqual(rows.map((r) => r[0]).sort(), ['lobby', 'quotes', 'shelf']);
  for (const r of rows) {
    assert.equal(r[2], 'you');
    assert.equal(r[3], 'owner');
    assert.equal(r[4], 'awake');
    assert.match(r[6], /^[0-9a-f]{12}$/);
  }
  assert.equal(await page.getAttribute('.who .identity', 'title'), serverOf(me).identity);
  await shoot('databases');

  // The code is used up: another browser opening the link is not signed in.
  const other = await browser.newPage();
  await other.goto(link);
  await other.waitForSelector('.signin');
  assert.match(await other.textContent('.signin'), /used or has expired/);
  await other.close();
});

test('a table shows its schema and the rows SQL returns, a page at a time, filtered', async () => {
  await visit('#/db/shelf/tables');
  await page.click('.table-list a[data-table="book"]');
  await page.waitForSelector('.pager .count >> text=Rows 1–50 of 55');
  const schema = await cellsOf(page, '.schema table');
  assert.deepEqual(schema.map((r) => r.slice(0, 2)), [['id', 'u32'], ['author_id', 'u32'], ['title', 'string']]);
  assert.equal(schema[0][2], 'primary key');
  const all = (await sqlRows('SELECT * FROM book')).map((r) => r.map(String));
  const first = await cellsOf(page, 'table.rows-table');
  await shoot('tables');
  await page.click('.pager button >> text=Next');
  await page.waitForSelector('.pager .count >> text=Rows 51–55 of 55');
  const second = await cellsOf(page, 'table.rows-table');
  assert.equal(first.length, 50);
  assert.deepEqual([...first, ...second].sort(), all.sort(), 'the two pages hold exactly the rows SQL returns');

  await page.fill('#row-filter', 'author_id = 2 AND id > 40');
  await page.click('.filter button');
  await page.waitForSelector('.pager .count >> text=of 7');
  const filtered = await cellsOf(page, 'table.rows-table');
  assert.deepEqual(filtered.sort(), (await sqlRows('SELECT * FROM book WHERE author_id = 2 AND id > 40')).map((r) => r.map(String)).sort());
  assert.equal(filtered.length, 7);
});

test('the SQL console runs a query and shows its result as a table', async () => {
  await visit('#/db/shelf/sql');
  await page.fill('#sql-text', 'SELECT name, id FROM author WHERE id <= 2 ORDER BY name');
  await page.click('#sql-run');
  await page.waitForSelector('table.sql-result');
  assert.deepEqual(await page.$$eval('table.sql-result th', (ths) => ths.map((th) => th.textContent)), ['name', 'id']);
  assert.deepEqual(await cellsOf(page, 'table.sql-result'), [['Italo', '2'], ['Ursula', '1']]);
  await shoot('sql');
  await page.fill('#sql-text', 'SELECT * FROM nowhere');
  await page.click('#sql-run');
  await page.waitForSelector('.results .notice.error');
  assert.match(await page.textContent('.results'), /nowhere/);
});

test('a reducer\'s log line appears in the live tail within a second', async () => {
  await visit('#/db/lobby/logs');
  await page.waitForSelector('#log-lines .log-line >> text=needle-7731');  // the tail began with the kept lines
  const text = `tail-${Date.now()}`;
  const res = await fetch(`${host.url}/v1/database/lobby/call/send_message`, {
    method: 'POST', body: JSON.stringify([text]), headers: { Authorization: `Bearer ${tokenOf(me)}` },
  });
  assert.equal(res.status, 200);
  const replied = Date.now();
  await page.waitForSelector(`#log-lines .log-line >> text=${text}`, { timeout: tailMs });
  console.log(`the log line showed ${Date.now() - replied} ms after the call's reply`);
  await shoot('logs');
});

test('the log search finds kept lines by text and time range', async () => {
  await visit('#/db/lobby/logs');
  await page.waitForSelector('#log-mode >> text=Live');
  await page.fill('#log-grep', 'NEEDLE-7731');
  await page.click('#log-search');
  await page.waitForSelector('#log-mode >> text=Search results');
  await page.waitForFunction(() => document.querySelectorAll('#log-lines .log-line').length === 1);
  assert.match(await page.textContent('#log-lines'), /an old needle-7731 line/);
  await shoot('logs-search');

  // A range in the future holds nothing; one around now holds the line.
  const local = (ms) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  };
  await page.fill('#log-since', local(Date.now() + 3600_000));
  await page.click('#log-search');
  await page.waitForSelector('#log-lines >> text=No kept line matches.');
  await page.fill('#log-since', local(Date.now() - 3600_000));
  await page.fill('#log-until', local(Date.now() + 60_000));
  await page.click('#log-search');
  await page.waitForSelector('#log-lines .log-line >> text=needle-7731');
});

test('the query monitor shows a live subscription and the recent calls', async (t) => {
  const bindings = await sdkBindings('console-library', ['-j', path.join(bundles, 'library.js')]);
  const { conn } = await connectClient(t, bindings, host.url, 'shelf');
  await subscribeTo(conn, ['SELECT * FROM book']);
  const failed = run(me, 'call', 'lobby', 'send_message', '""');
  assert.notEqual(failed.status, 0);
  ok(run(me, 'call', 'shelf', 'add_author', '3', '"Octavia"'));

  await visit('#/db/shelf/monitor');
  // Evaluated on subscribing and again after the add_author commit (the page refreshes itself).
  await page.waitForFunction(() => [...document.querySelectorAll('table.queries tbody tr')]
    .some((r) => r.children[0].textContent === 'SELECT * FROM book' && Number(r.children[2].textContent) >= 2));
  const book = (await cellsOf(page, 'table.queries')).find((r) => r[0] === 'SELECT * FROM book');
  assert.equal(book[1], '1', 'one subscriber');
  assert.equal(book[5], '55', 'the 55 initial rows; the commit changed none of its rows');
  const calls = await cellsOf(page, 'table.calls');
  assert.equal(calls[0][1], 'add_author');
  assert.equal(calls[0][4], 'ok');
  await shoot('monitor');

  await visit('#/db/lobby/monitor');
  await page.waitForSelector('table.calls');
  const failure = (await cellsOf(page, 'table.calls')).find((r) => r[4] === 'user error');
  assert.ok(failure, 'the failed call is listed');
  assert.equal(failure[1], 'send_message');
  assert.match(failure[5], /Messages must not be empty/);
});

test('the overview charts the last hour', async () => {
  await visit('#/db/shelf/overview');
  // Two lines in three charts, one in the others: every chart has its points.
  await page.waitForFunction(() => document.querySelectorAll('.chart-card polyline').length === 10, null, { timeout: 20000 });
  const titles = await page.$$eval('.chart-title', (els) => els.map((e) => e.textContent));
  assert.deepEqual(titles, ['Calls per second', 'Reducer duration (ms)', 'Connected clients', 'Subscribed queries',
    'Rows', 'Memory', 'Commits and fsyncs per second']);
  // The rows of every table, once a point has been taken since the last call (the page refreshes itself).
  let rows = 0;
  for (const table of ['author', 'book', 'audit']) rows += (await sqlRows(`SELECT * FROM ${table}`)).length;
  await page.waitForFunction((n) => document.querySelector('.chart-card:nth-child(5) .legend b')?.textContent === n,
                             String(rows), { timeout: 20000 });
  await shoot('overview');
});

test('the access page grants and revokes a role', async () => {
  await visit('#/db/shelf/access');
  await page.waitForSelector('table.access');
  assert.match(await page.textContent('dl.facts'), /Your role\s*owner/);
  const someone = 'ab'.repeat(32);
  await page.fill('#grantee', someone);
  await page.selectOption('#grant-role', 'developer');
  await page.click('.grant button');
  await page.waitForSelector(`table.access span[title="${someone}"]`);
  const view = await (await fetch(`${host.url}/v1/database/shelf/access`, {
    headers: { Authorization: `Bearer ${tokenOf(me)}` },
  })).json();
  assert.deepEqual(view.grants, [{ grantee: someone, role: 'developer', on: 'database' }]);
  await shoot('access');
  await page.click('button.revoke');
  await page.waitForFunction(() => !document.querySelector('button.revoke'));
  const after = await (await fetch(`${host.url}/v1/database/shelf/access`, {
    headers: { Authorization: `Bearer ${tokenOf(me)}` },
  })).json();
  assert.deepEqual(after.grants, []);
});

test('a module\'s own pages cannot read the signed-in console\'s token', async () => {
  const hello = await fetch(`${host.url}/v1/database/quotes/route/hello`);
  assert.match(hello.headers.get('content-security-policy'), /^sandbox /);
  await visit('#/');
  await page.waitForSelector('table.databases');
  assert.ok(await page.evaluate(() => localStorage.getItem('orrery.console.token')), 'the console keeps its token');
  await page.goto(`${host.url}/v1/database/quotes/route/hello`);
  const read = await page.evaluate(() => { try { return localStorage.getItem('orrery.console.token'); } catch (e) { return e.name; } });
  assert.equal(read, 'SecurityError', 'a module page runs in an origin of its own');
});

test('a stranger signed in with a pasted token sees no private table, log or figure', async () => {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const p = await context.newPage();
  await visit('', p);
  await p.fill('#token', tokenOf(stranger));
  await p.click('.signin button');
  await p.waitForSelector('.empty >> text=You own no databases');
  await p.fill('#open-name', 'shelf');
  await p.click('.page-head form button');
  await p.waitForSelector('.charts .notice.refused');

  await visit('#/db/shelf/tables', p);
  await p.waitForSelector('.table-list a');
  assert.deepEqual(await p.$$eval('.table-list a', (as) => as.map((a) => a.textContent)).then((n) => n.sort()), ['author', 'book']);
  assert.match(await p.textContent('.page'), /1 private table\(s\) are shown only to those with a role on this database/);
  await shoot('stranger-tables', p);

  await visit('#/db/shelf/sql', p);
  await p.fill('#sql-text', 'SELECT * FROM audit');
  await p.click('#sql-run');
  await p.waitForSelector('.results .notice');
  assert.doesNotMatch(await p.textContent('.results'), /author Ursula/);
  assert.equal(await p.$$eval('table.sql-result', (t) => t.length), 0);
  await p.fill('#sql-text', "DELETE FROM author WHERE id = 1");
  await p.click('#sql-run');
  await p.waitForSelector('.results .notice');
  assert.equal((await sqlRows('SELECT * FROM author WHERE id = 1')).length, 1, 'the stranger deleted nothing');

  await visit('#/db/lobby/logs', p);
  await p.waitForSelector('#log-lines .notice.refused');
  assert.equal(await p.$$eval('#log-lines .log-line', (l) => l.length), 0);
  await shoot('stranger-logs', p);

  await visit('#/db/lobby/monitor', p);
  await p.waitForSelector('#monitor-queries .notice.refused');
  await context.close();
});

test('the teams and projects page shares a database with a team', async () => {
  const friend = serverOf(stranger).identity;
  const asOwner = { Authorization: `Bearer ${tokenOf(me)}` };
  await visit('#/sharing');
  await page.waitForSelector('text=You own or belong to no team.');
  await page.fill('input[placeholder="new team name"]', 'readers');
  await page.click('button:has-text("Create team")');
  await page.fill('section[data-team="readers"] input', friend);
  await page.click('section[data-team="readers"] button:has-text("Add member")');
  await page.waitForSelector(`section[data-team="readers"] span[title="${friend}"]`);
  await page.fill('input[placeholder="new project name"]', 'library');
  await page.click('button:has-text("Create project")');
  await page.fill('section[data-project="library"] input[placeholder="database you own"]', 'shelf');
  await page.click('section[data-project="library"] button:has-text("Add database")');
  await page.waitForSelector('section[data-project="library"] >> text=Databases: shelf');
  await page.fill('section[data-project="library"] input[placeholder="hex identity or team:name"]', 'team:readers');
  await page.click('section[data-project="library"] button:has-text("Grant on project")');
  await page.waitForSelector('section[data-project="library"] td >> text=team:readers');
  await shoot('sharing');

  // The host holds it: the team's member reads shelf's private table now.
  const listed = await (await fetch(`${host.url}/v1/database/shelf/access`, { headers: asOwner })).json();
  assert.deepEqual(listed.grants.map((g) => [g.grantee, g.role, g.on, g.members]),
    [['team:readers', 'viewer', 'project:library', [friend]]]);
  const read = await fetch(`${host.url}/v1/database/shelf/sql`, {
    method: 'POST', body: 'SELECT * FROM audit', headers: { Authorization: `Bearer ${tokenOf(stranger)}` },
  });
  assert.equal(read.status, 200);

  // A member change the host refuses is shown: only the team's owner changes its members.
  const other = await browser.newContext();
  const p = await other.newPage();
  await visit('', p);
  await p.fill('#token', tokenOf(stranger));
  await p.click('.signin button');
  await visit('#/sharing', p);
  await p.fill('section[data-team="readers"] input', 'ab'.repeat(32));
  await p.click('section[data-team="readers"] button:has-text("Add member")');
  await p.waitForSelector('.notice.refused >> text=only its owner may');
  await other.close();
});

// The authorization matrix: every route and action × {owner, admin, developer,
// viewer, stranger, anonymous} × a role granted on the database, on its
// project, or to a team. What is expected comes from the README's roles table,
// so the table and the host cannot drift apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'undici';
import { cli, ok, removeDir, startHost, tempDir } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const bundle = readFileSync(path.join(bundles, 'library.js'), 'utf8');
const roles = ['viewer', 'developer', 'admin', 'owner'];
const principals = ['owner', 'admin', 'developer', 'viewer', 'stranger', 'anonymous'];
const grantKinds = ['database', 'project', 'team'];

/** The README's roles table: action → role → allowed. */
function documentedTable() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const table = {};
  for (const line of readme.split('\n')) {
    const m = line.match(/^\| `(\w+)` \| [^|]+ \| (yes|no) \| (yes|no) \| (yes|no) \| (yes|no) \|$/);
    if (m) table[m[1]] = Object.fromEntries(roles.map((r, i) => [r, m[i + 2] === 'yes']));
  }
  return table;
}
const documented = documentedTable();

let dataDir, host;
const people = {};  // principal → {identity, token}; anonymous has none

async function request(method, route, { who, body } = {}) {
  const headers = who?.token ? { Authorization: `Bearer ${who.token}` } : {};
  const res = await fetch(`${host.url}${route}`, { method, headers, body });
  return { status: res.status, text: await res.text() };
}

async function must(method, route, who, body) {
  const r = await request(method, route, { who, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${route}: ${r.status} ${r.text}`);
  return r.text;
}

async function newIdentity() {
  const res = await fetch(`${host.url}/v1/identity`, { method: 'POST' });
  return res.json();
}

const grant = (grantee, role) => JSON.stringify({ grantee, role });

/** Whether a v1 JSON client with `who`'s token may subscribe to the private table. */
async function subscribesToPrivate(database, who) {
  const query = who?.token ? `?token=${encodeURIComponent(who.token)}` : '';
  const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/${database}/subscribe${query}`,
    ['v1.json.spacetimedb']);
  const closed = new Promise((resolve) => ws.addEventListener('close', resolve));
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to the Subscribe')), 10000);
      ws.addEventListener('message', (e) => {
        const m = JSON.parse(e.data);
        if ('IdentityToken' in m) ws.send(JSON.stringify({ Subscribe: { query_strings: ['SELECT * FROM audit'], request_id: 1 } }));
        if ('InitialSubscription' in m) { clearTimeout(timer); resolve(true); }
        if ('SubscriptionError' in m) { clearTimeout(timer); resolve(false); }
      });
      ws.addEventListener('error', () => reject(new Error('the WebSocket failed')));
    });
  } finally {
    ws.close();
    await closed;
  }
}

/**
 * Each probe tries one route or message as `who` on `db` and answers true
 * (allowed), false (refused as documented: 403 or 401, or for private rows,
 * as if the table did not exist), or throws on anything else.
 */
const refusedStatus = (r) => {
  if (r.status >= 200 && r.status < 300) return true;
  assert.ok(r.status === 403 || r.status === 401, `expected 2xx, 401 or 403, got ${r.status}: ${r.text}`);
  return false;
};
const probes = {
  read_private: [
    ['SQL over a private table', async (db, who) => {
      const r = await request('POST', `/v1/database/${db}/sql`, { who, body: 'SELECT * FROM audit' });
      if (r.status === 200) return true;
      assert.equal(r.status, 400);
      assert.match(r.text, /no such table: `audit`. If the table exists, it may be marked private/);
      return false;
    }],
    ['a subscription to a private table', (db, who) => subscribesToPrivate(db, who)],
  ],
  observe: [
    ['GET logs', async (db, who) => refusedStatus(await request('GET', `/v1/database/${db}/logs?num_lines=1`, { who }))],
    ['GET metrics', async (db, who) => refusedStatus(await request('GET', `/v1/database/${db}/metrics`, { who }))],
    ['GET usage', async (db, who) => refusedStatus(await request('GET', `/v1/database/${db}/usage`, { who }))],
    ['GET subscriptions', async (db, who) => refusedStatus(await request('GET', `/v1/database/${db}/subscriptions`, { who }))],
    ['GET access', async (db, who) => refusedStatus(await request('GET', `/v1/database/${db}/access`, { who }))],
  ],
  write_rows: [
    ['SQL DELETE', async (db, who) =>
      refusedStatus(await request('POST', `/v1/database/${db}/sql`, { who, body: 'DELETE FROM audit WHERE id = 999999' }))],
    ['SQL UPDATE', async (db, who) =>
      refusedStatus(await request('POST', `/v1/database/${db}/sql`, { who, body: "UPDATE author SET name = 'Ursula' WHERE id = 1" }))],
    ['SQL INSERT', async (db, who) =>
      refusedStatus(await request('POST', `/v1/database/${db}/sql`, { who, body: "INSERT INTO audit (id, note) VALUES (0, 'probe')" }))],
  ],
  publish: [
    ['POST pre_publish', async (db, who) => refusedStatus(await request('POST', `/v1/database/${db}/pre_publish`, { who, body: bundle }))],
    ['PUT the module', async (db, who) => refusedStatus(await request('PUT', `/v1/database/${db}`, { who, body: bundle }))],
  ],
  manage_access: [
    ['POST access', async (db, who) =>
      refusedStatus(await request('POST', `/v1/database/${db}/access`, { who, body: grant(people.extra.identity, 'viewer') }))],
    ['DELETE access', async (db, who) =>
      refusedStatus(await request('DELETE', `/v1/database/${db}/access/${people.extra.identity}`, { who }))],
  ],
  rename: [
    ['PUT names', async (db, who) => refusedStatus(await request('PUT', `/v1/database/${db}/names`, { who, body: JSON.stringify([db]) }))],
    ['POST a name', async (db, who) => refusedStatus(await request('POST', `/v1/database/${db}/names`, { who, body: db }))],
  ],
  lock: [
    ['POST lock and unlock', async (db, who) => {
      const locked = refusedStatus(await request('POST', `/v1/database/${db}/lock`, { who }));
      assert.equal(refusedStatus(await request('POST', `/v1/database/${db}/unlock`, { who })), locked);
      return locked;
    }],
  ],
  transfer_ownership: [
    ['POST transfer (to the owner)', async (db, who) =>
      refusedStatus(await request('POST', `/v1/database/${db}/transfer`, { who, body: people.owner.identity }))],
  ],
  // Last: it ends the database.
  delete_database: [
    ['DELETE the database', async (db, who) => refusedStatus(await request('DELETE', `/v1/database/${db}`, { who }))],
  ],
};

const allowed = (actionName, principal) =>
  roles.includes(principal) && documented[actionName][principal];

before(async () => {
  dataDir = tempDir('access');
  host = await startHost(dataDir);
  for (const p of ['owner', 'admin', 'developer', 'viewer', 'stranger', 'extra']) people[p] = await newIdentity();
  people.anonymous = null;
  const owner = people.owner;
  for (const kind of grantKinds) {
    const db = `lib-${kind}`;
    await must('PUT', `/v1/database/${db}`, owner, bundle);
    await must('POST', `/v1/database/${db}/call/add_author`, owner, JSON.stringify([1, 'Ursula']));
    for (const role of ['admin', 'developer', 'viewer']) {
      const to = people[role].identity;
      if (kind === 'database') await must('POST', `/v1/database/${db}/access`, owner, grant(to, role));
      if (kind === 'project') {
        if (role === 'admin') {
          await must('POST', '/v1/projects', owner, 'shelf');
          await must('POST', '/v1/projects/shelf/databases', owner, db);
        }
        await must('POST', '/v1/projects/shelf/access', owner, grant(to, role));
      }
      if (kind === 'team') {
        await must('POST', '/v1/teams', owner, `${role}s`);
        await must('POST', `/v1/teams/${role}s/members`, owner, to);
        await must('POST', `/v1/database/${db}/access`, owner, grant(`team:${role}s`, role));
      }
    }
  }
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
});

test('the README documents every action the host checks', () => {
  assert.deepEqual(Object.keys(documented).sort(), Object.keys(probes).sort());
  for (const [name, row] of Object.entries(documented)) assert.ok(row.owner, `the owner may ${name}`);
});

for (const kind of grantKinds) {
  test(`every route and action, for each role granted on the ${kind === 'team' ? 'database to a team' : kind}`, async () => {
    const db = `lib-${kind}`;
    const seen = [];
    for (const [actionName, checks] of Object.entries(probes)) {
      // The owner goes last: its deletion ends the database.
      for (const principal of [...principals.filter((p) => p !== 'owner'), 'owner']) {
        for (const [what, probe] of checks) {
          const got = await probe(db, people[principal]);
          const want = allowed(actionName, principal);
          seen.push(`${actionName}/${principal}`);
          assert.equal(got, want, `${what} as ${principal} (${kind} grant): ${want ? 'allowed' : 'refused'} per the README`);
        }
      }
    }
    assert.equal(seen.length, Object.values(probes).flat().length * principals.length);
  });
}

test('anyone reads a database\'s public facts, schema and public tables, and calls its reducers', async () => {
  await must('PUT', '/v1/database/open-to-all', people.owner, bundle);
  for (const principal of principals) {
    const who = people[principal];
    for (const [method, route, body] of [
      ['GET', '/v1/database/open-to-all'],
      ['GET', '/v1/database/open-to-all/schema?version=9'],
      ['POST', '/v1/database/open-to-all/sql', 'SELECT * FROM author'],
      ['POST', '/v1/database/open-to-all/call/add_book', JSON.stringify([principals.indexOf(principal), 1, 'a book'])],
    ]) {
      const r = await request(method, route, { who, body });
      assert.equal(r.status, 200, `${method} ${route} as ${principal}: ${r.text}`);
    }
  }
});

test('a revoked role ends the connections and log follows that read private data; others stay', async () => {
  const owner = people.owner;
  await must('PUT', '/v1/database/watched', owner, bundle);
  await must('POST', '/v1/database/watched/access', owner, grant(people.extra.identity, 'viewer'));
  const open = async (who) => {
    const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/watched/subscribe?token=${encodeURIComponent(who.token)}`,
      ['v1.json.spacetimedb']);
    const closed = new Promise((resolve) => ws.addEventListener('close', resolve));
    const applied = new Promise((resolve) => ws.addEventListener('message', (e) => {
      const m = JSON.parse(e.data);
      if ('IdentityToken' in m) ws.send(JSON.stringify({ Subscribe: { query_strings: ['SELECT * FROM book'], request_id: 1 } }));
      if ('InitialSubscription' in m || 'SubscriptionError' in m) resolve(Object.keys(m)[0]);
    }));
    return { ws, closed, applied };
  };
  const viewer = await open(people.extra), stranger = await open(people.stranger);
  assert.equal(await viewer.applied, 'InitialSubscription');
  assert.equal(await stranger.applied, 'InitialSubscription');
  const follow = await fetch(`${host.url}/v1/database/watched/logs?follow=true&num_lines=1`,
    { headers: { Authorization: `Bearer ${people.extra.token}` } });
  assert.equal(follow.status, 200);
  const reader = follow.body.getReader();
  const followEnded = (async () => { while (!(await reader.read()).done); return true; })();
  let strangerClosed = false;
  stranger.closed.then(() => { strangerClosed = true; });
  await must('DELETE', `/v1/database/watched/access/${people.extra.identity}`, owner);
  const within = (promise) => Promise.race([promise, new Promise((r) => setTimeout(() => r(null), 10000))]);
  assert.ok(await within(viewer.closed), 'the revoked viewer\'s connection closed');
  assert.ok(await within(followEnded), 'the revoked viewer\'s log follow ended');
  assert.equal(strangerClosed, false, 'a client that read no private data stays connected');
  stranger.ws.close();
  await stranger.closed;
});

test('grants, revokes and transfers are written to the database\'s log with who made them', async () => {
  const owner = people.owner;
  await must('PUT', '/v1/database/logged', owner, bundle);
  await must('POST', '/v1/database/logged/access', owner, grant(people.viewer.identity, 'viewer'));
  await must('DELETE', `/v1/database/logged/access/${people.viewer.identity}`, owner);
  await must('POST', '/v1/projects', owner, 'logged-project');
  await must('POST', '/v1/projects/logged-project/databases', owner, 'logged');
  await must('POST', '/v1/projects/logged-project/access', owner, grant('team:admins', 'developer'));
  await must('POST', '/v1/teams/admins/members', owner, people.extra.identity);
  await must('POST', '/v1/database/logged/transfer', owner, people.admin.identity);
  const log = await must('GET', '/v1/database/logged/logs', people.admin);
  const by = owner.identity;
  assert.match(log, new RegExp(`Access: ${by} granted viewer to ${people.viewer.identity}`));
  assert.match(log, new RegExp(`Access: ${by} revoked the role of ${people.viewer.identity}`));
  assert.match(log, new RegExp(`Access: ${by} added the database to project logged-project`));
  assert.match(log, new RegExp(`Access: ${by} granted developer to team:admins on project logged-project`));
  assert.match(log, new RegExp(`Access: ${by} added ${people.extra.identity} to team admins \\(on project logged-project\\)`));
  assert.match(log, new RegExp(`Access: ${by} transferred ownership to ${people.admin.identity}`));
  // The old owner holds no role now.
  assert.equal((await request('GET', '/v1/database/logged/logs', { who: owner })).status, 403);
});

test('the CLI shares a database through a team and a project, and orrery list shows the role', async () => {
  const me = tempDir('access-me'), friend = tempDir('access-friend');
  const as = (dir, ...args) => cli(dir, [...args, '-s', host.url]);
  try {
    ok(as(me, 'login'));
    ok(as(friend, 'login'));
    const friendId = JSON.parse(readFileSync(path.join(friend, 'config.json'), 'utf8')).servers
      .find((s) => s.url === host.url).identity;
    ok(as(me, 'publish', 'cli-db', '-j', path.join(bundles, 'library.js')));
    ok(as(me, 'call', 'cli-db', 'add_author', '1', '"Ursula"'));
    ok(as(me, 'team', 'create', 'friends'));
    assert.match(ok(as(me, 'team', 'add', 'friends', friendId)), new RegExp(friendId));
    ok(as(me, 'project', 'create', 'cli-proj'));
    ok(as(me, 'project', 'add', 'cli-proj', 'cli-db'));
    ok(as(me, 'access', 'grant', 'viewer', '--team', 'friends', '--project', 'cli-proj'));
    assert.match(ok(as(me, 'access', 'list', '--database', 'cli-db')), /team:friends\s+\| viewer\s+\| project:cli-proj/);
    assert.match(ok(as(me, 'project', 'list')), /cli-proj\s+\| owner\s+\| 1/);
    assert.match(ok(as(friend, 'team', 'list')), /Team friends/);

    // The friend reads private rows now, but may not change them.
    assert.match(ok(as(friend, 'sql', 'cli-db', 'SELECT note FROM audit')), /author Ursula/);
    const write = as(friend, 'sql', 'cli-db', 'DELETE FROM audit');
    assert.match(write.stderr, /HTTP 403\): .*\(viewer\) may not change rows of database `cli-db`/);
    assert.match(ok(as(friend, 'list')), /cli-db\s+\| [0-9a-f]{64} \| viewer/);
    assert.match(ok(as(me, 'list')), /cli-db\s+\| [0-9a-f]{64} \| owner/);

    ok(as(me, 'access', 'revoke', '--team', 'friends', '--project', 'cli-proj'));
    assert.notEqual(as(friend, 'sql', 'cli-db', 'SELECT note FROM audit').status, 0);
    assert.doesNotMatch(ok(as(friend, 'list')), /cli-db/);
    const bad = as(me, 'access', 'grant', 'owner', '--to', friendId, '--database', 'cli-db');
    assert.match(bad.stderr, /the role is viewer, developer or admin, not `owner`/);
  } finally {
    removeDir(me);
    removeDir(friend);
  }
});

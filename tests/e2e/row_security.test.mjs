// Row-level security (client visibility filters) as a module declares it:
// clients other than the owner see only the rows the filters select, through
// subscriptions with any query text and through SQL; the owner sees every row.
// Real `spacetimedb` 2.10.1 SDK, bindings from `orrery generate`, real `orrery start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import { cli, connectClient, removeDir, sdkBindings, startHost, subscribeTo, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global
setGlobalLogLevel('warn');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const moduleArgs = ['-j', path.join(bundles, 'rls-filter.js')];
let dataDir, host, me, notes;

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('rls');
  me = tempDir('rls-me');
  host = await startHost(dataDir);
  ok(run('publish', 'notes', ...moduleArgs));
  notes = await sdkBindings('rls-filter', moduleArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

/** A connected client that records every row it was ever sent. */
async function connect(t) {
  const client = await connectClient(t, notes, host.url, 'notes');
  client.received = [];
  client.conn.db.note.onInsert((_ctx, row) => client.received.push(row));
  return client;
}
const subscribe = subscribeTo;

const texts = (client) => [...client.conn.db.note.iter()].map((r) => r.text).sort();
const received = (client) => client.received.map((r) => r.text).sort();

async function sqlAs(token, query) {
  const res = await fetch(`${host.url}/v1/database/notes/sql`, {
    method: 'POST', body: query, headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json())[0].rows.map((r) => r[0]).sort();
}

test('each client subscribed to the whole table gets and hears of its own notes only', async (t) => {
  const a = await connect(t);
  const b = await connect(t);
  await a.conn.reducers.addNote({ text: 'a1' });
  await b.conn.reducers.addNote({ text: 'b1' });

  await subscribe(a.conn, ['SELECT * FROM note']);
  await subscribe(b.conn, ['SELECT * FROM note']);
  assert.deepEqual(texts(a), ['a1']);
  assert.deepEqual(texts(b), ['b1']);

  // B's own commit comes after A's: once B holds b2, a2 had its chance to reach B.
  await a.conn.reducers.addNote({ text: 'a2' });
  await waitUntil(() => texts(a).includes('a2'), 'A to see a2');
  await b.conn.reducers.addNote({ text: 'b2' });
  await waitUntil(() => texts(b).includes('b2'), 'B to see b2');
  assert.deepEqual(received(a), ['a1', 'a2']);
  assert.deepEqual(received(b), ['b1', 'b2']);

  // A query with its own condition is narrowed by the filter as well.
  const c = await connect(t);
  await subscribe(c.conn, ["SELECT * FROM note WHERE text = 'a1'"]);
  assert.deepEqual(texts(c), []);

  // SQL: a client's token sees its notes; an anonymous caller has none; the owner sees all.
  assert.deepEqual(await sqlAs(a.token, 'SELECT text FROM note'), ['a1', 'a2']);
  assert.deepEqual(await sqlAs(b.token, 'SELECT COUNT(*) AS n FROM note'), [2]);
  assert.deepEqual(await sqlAs(null, 'SELECT text FROM note'), []);
  assert.match(ok(run('sql', '--anonymous', 'notes', 'SELECT COUNT(*) AS n FROM note')), / 0\n/);
  const all = JSON.parse(ok(run('sql', 'notes', 'SELECT text FROM note', '--format', 'json')));
  assert.deepEqual(all[0].rows.map((r) => r[0]).sort(), ['a1', 'a2', 'b1', 'b2']);
});

test('the filter is part of the described schema', () => {
  const schema = JSON.parse(ok(run('describe', '--json', 'notes')));
  assert.deepEqual(schema.row_level_security, [{ sql: 'SELECT * FROM note WHERE owner = :sender' }]);
});

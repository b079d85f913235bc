// Views: read-only functions of the database, with and without a sender,
// subscribed to like tables; subscribers get updates when the rows a view
// read change. Real `spacetimedb` 2.10.1 SDK, bindings from `orrery generate`,
// real `orrery start`.
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
const moduleArgs = ['-j', path.join(bundles, 'views.js')];
let dataDir, host, me, bindings;

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('views');
  me = tempDir('views-me');
  host = await startHost(dataDir);
  ok(run('publish', 'tasks', ...moduleArgs));
  bindings = await sdkBindings('views', moduleArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

const connect = (t) => connectClient(t, bindings, host.url, 'tasks');
const subscribe = subscribeTo;

const titles = (client) => [...client.conn.db.myTasks.iter()].map((r) => r.title).sort();
const openCount = (client) => [...client.conn.db.taskCount.iter()].map((r) => r.openTasks)[0];

test('each subscriber sees its own view rows, updated as the tables they read change', async (t) => {
  const a = await connect(t);
  const b = await connect(t);
  await a.conn.reducers.addTask({ id: 1, title: 'a-one' });
  await b.conn.reducers.addTask({ id: 2, title: 'b-one' });

  await subscribe(a.conn, ['SELECT * FROM my_tasks', 'SELECT * FROM task_count', 'SELECT * FROM finished_tasks']);
  await subscribe(b.conn, ['SELECT * FROM my_tasks']);
  assert.deepEqual(titles(a), ['a-one']);
  assert.deepEqual(titles(b), ['b-one']);
  assert.equal(openCount(a), 2n);

  await a.conn.reducers.addTask({ id: 3, title: 'a-two' });
  await waitUntil(() => titles(a).length === 2, 'A to see a-two');
  await waitUntil(() => openCount(a) === 3n, 'the count to reach 3');
  await b.conn.reducers.finishTask({ id: 2 });
  await waitUntil(() => titles(b).length === 0, 'B to see its task finished');
  await waitUntil(() => openCount(a) === 2n, 'the count to fall to 2');
  // The query a view returned is run again too.
  await waitUntil(() => [...a.conn.db.finishedTasks.iter()].map((r) => r.title).join() === 'b-one', 'finished_tasks to hold b-one');
  assert.deepEqual(titles(a), ['a-one', 'a-two']);

  // SQL reads a view for its caller; anything but the whole view is refused.
  const res = await fetch(`${host.url}/v1/database/tasks/sql`, {
    method: 'POST', body: 'SELECT * FROM my_tasks', headers: { Authorization: `Bearer ${a.token}` },
  });
  assert.equal(res.status, 200);
  const [answer] = await res.json();
  assert.deepEqual(answer.rows.map((r) => r[2]).sort(), ['a-one', 'a-two']);
  assert.deepEqual(answer.schema.elements.map((e) => e.name.some), ['id', 'owner', 'title', 'done']);
  const filtered = run('sql', 'tasks', "SELECT * FROM my_tasks WHERE title = 'x'");
  assert.match(filtered.stderr, /a view is read whole, alone: SELECT \* FROM my_tasks/);
  assert.match(ok(run('sql', 'tasks', 'SELECT * FROM task_count')), /open +\| 2/);
});

// The v1 JSON subprotocol, as a tool that speaks JSON uses it: text frames,
// rows as JSON objects inside strings, the caller's TransactionUpdate and
// the other clients' TransactionUpdateLight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { WebSocket } from 'undici';
import { cli, ok, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;

const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('v1-json');
  me = tempDir('v1-json-me');
  host = await startHost(dataDir);
  ok(run('publish', 'chat', '-j', path.join(bundles, 'chat.js')));
  ok(run('publish', 'library', '-j', path.join(bundles, 'library.js')));
  ok(run('call', 'library', 'add_author', '1', '"Le Guin"'));
  ok(run('call', 'library', 'add_book', '10', '1', '"Earthsea"'));
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

/** A v1 JSON client: `next(kind)` resolves with the next message of that kind. */
async function connect(t, database, query = '') {
  const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/${database}/subscribe${query}`,
    ['v1.json.spacetimedb']);
  const messages = [];
  const waiting = [];
  const closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e)));
  ws.addEventListener('message', (e) => {
    assert.equal(typeof e.data, 'string', 'v1 JSON messages are text frames');
    messages.push(JSON.parse(e.data));
    for (const w of [...waiting]) w();
  });
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error('the WebSocket did not open')), { once: true });
  });
  t.after(async () => {
    if (ws.readyState === WebSocket.OPEN) ws.close();
    await closed;
  });
  const next = (kind, ms = 5000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} within ${ms} ms: ${JSON.stringify(messages)}`)), ms);
    const look = () => {
      const i = messages.findIndex((m) => kind in m);
      if (i < 0) return;
      clearTimeout(timer);
      waiting.splice(waiting.indexOf(look), 1);
      resolve(messages.splice(i, 1)[0][kind]);
    };
    waiting.push(look);
    look();
  });
  const send = (message) => ws.send(JSON.stringify(message));
  const hello = await next('IdentityToken');
  return { ws, next, send, hello, messages, closed };
}

const rowsOf = (update) => update.tables.flatMap((t) => t.updates.flatMap((u) => u.inserts.map((r) => JSON.parse(r))));

test('a v1 client is identified, subscribes, calls and hears others', async (t) => {
  const a = await connect(t, 'chat');
  assert.match(a.hello.identity.__identity__, /^0x[0-9a-f]{64}$/);
  assert.equal(typeof a.hello.token, 'string');
  assert.equal(typeof a.hello.connection_id.__connection_id__, 'number');

  a.send({ Subscribe: { query_strings: ['SELECT * FROM message'], request_id: 1 } });
  const initial = await a.next('InitialSubscription');
  assert.equal(initial.request_id, 1);

  a.send({ CallReducer: { reducer: 'send_message', args: '["hello from v1"]', request_id: 7, flags: 0 } });
  const update = await a.next('TransactionUpdate');
  assert.deepEqual(update.reducer_call, { reducer_name: 'send_message', reducer_id: update.reducer_call.reducer_id,
    args: '["hello from v1"]', request_id: 7 });
  assert.equal(update.caller_identity.__identity__, a.hello.identity.__identity__);
  const [row] = rowsOf(update.status.Committed);
  assert.equal(row.text, 'hello from v1');
  assert.deepEqual(row.sender, a.hello.identity);
  assert.equal(typeof row.sent.__timestamp_micros_since_unix_epoch__, 'number');

  // Another client's call reaches the subscriber as TransactionUpdateLight.
  ok(run('call', 'chat', 'send_message', '"from the CLI"'));
  const light = await a.next('TransactionUpdateLight');
  assert.deepEqual(rowsOf(light.update).map((r) => r.text), ['from the CLI']);

  // A failing call: the caller hears why, nothing commits.
  a.send({ CallReducer: { reducer: 'send_message', args: '{"text": ""}', request_id: 8, flags: 0 } });
  const failed = await a.next('TransactionUpdate');
  assert.equal(failed.status.Failed, 'Messages must not be empty');
  assert.equal(failed.reducer_call.request_id, 8);
});

test('a legacy Subscribe replaces the one before; single and multi subscriptions come and go', async (t) => {
  const c = await connect(t, 'library');
  c.send({ Subscribe: { query_strings: ['SELECT * FROM author'], request_id: 1 } });
  assert.deepEqual(rowsOf((await c.next('InitialSubscription')).database_update).map((r) => r.name), ['Le Guin']);
  c.send({ Subscribe: { query_strings: ['SELECT * FROM book'], request_id: 2 } });
  const second = await c.next('InitialSubscription');
  assert.equal(second.request_id, 2);
  assert.deepEqual(rowsOf(second.database_update), [{ id: 10, author_id: 1, title: 'Earthsea' }]);
  // Only book is followed now.
  ok(run('call', 'library', 'add_author', '2', '"Lem"'));
  ok(run('call', 'library', 'add_book', '11', '2', '"Solaris"'));
  const light = await c.next('TransactionUpdateLight');
  assert.deepEqual(light.update.tables.map((x) => x.table_name), ['book']);

  c.send({ SubscribeSingle: { query: 'SELECT * FROM author WHERE id = 2', request_id: 3, query_id: { id: 5 } } });
  const single = await c.next('SubscribeApplied');
  assert.equal(single.query_id.id, 5);
  assert.equal(single.rows.table_name, 'author');
  assert.deepEqual(single.rows.table_rows.updates[0].inserts.map((r) => JSON.parse(r).name), ['Lem']);
  c.send({ SubscribeMulti: { query_strings: ['SELECT * FROM author', 'SELECT * FROM book'], request_id: 4,
    query_id: { id: 6 } } });
  const multi = await c.next('SubscribeMultiApplied');
  assert.deepEqual(multi.update.tables.map((x) => x.table_name), ['author', 'book']);
  c.send({ Unsubscribe: { request_id: 5, query_id: { id: 5 } } });
  const gone = await c.next('UnsubscribeApplied');
  assert.deepEqual(gone.rows.table_rows.updates[0].deletes.map((r) => JSON.parse(r).name), ['Lem']);
  c.send({ UnsubscribeMulti: { request_id: 6, query_id: { id: 6 } } });
  assert.equal((await c.next('UnsubscribeMultiApplied')).query_id.id, 6);
  c.send({ Unsubscribe: { request_id: 7, query_id: { id: 5 } } });
  const unknown = await c.next('SubscriptionError');
  assert.deepEqual(unknown.request_id, { some: 7 });
  c.send({ SubscribeSingle: { query: 'SELECT * FROM nowhere', request_id: 8, query_id: { id: 9 } } });
  const bad = await c.next('SubscriptionError');
  assert.deepEqual(bad.query_id, { some: 9 });
  assert.match(bad.error, /nowhere/);
});

test('one-off queries answer rows, projections and counts as JSON, with the message id', async (t) => {
  const c = await connect(t, 'library');
  c.send({ OneOffQuery: { message_id: '0a0b', query_string: 'SELECT title FROM book WHERE author_id = 1' } });
  const projected = await c.next('OneOffQueryResponse');
  assert.equal(projected.message_id, '0a0b');
  assert.deepEqual(projected.error, { none: [] });
  assert.deepEqual(projected.tables[0].rows.map((r) => JSON.parse(r)), [{ title: 'Earthsea' }]);
  c.send({ OneOffQuery: { message_id: [1, 2], query_string: 'SELECT COUNT(*) AS n FROM book' } });
  const counted = await c.next('OneOffQueryResponse');
  assert.equal(counted.message_id, '0102');
  assert.ok(JSON.parse(counted.tables[0].rows[0]).n >= 1);
  c.send({ OneOffQuery: { message_id: 'ff', query_string: 'SELECT * FROM audit' } });
  const hidden = await c.next('OneOffQueryResponse');
  assert.match(hidden.error.some, /no such table: `audit`/);
  assert.deepEqual(hidden.tables, []);
});

test('a malformed message closes the connection; the host goes on', async (t) => {
  const c = await connect(t, 'chat', '?light=true');
  c.send({ NoSuchMessage: {} });
  await c.closed;
  const again = await connect(t, 'chat');
  again.send({ OneOffQuery: { message_id: '01', query_string: 'SELECT COUNT(*) AS n FROM message' } });
  assert.ok(JSON.parse((await again.next('OneOffQueryResponse')).tables[0].rows[0]).n >= 2);
  const opens = (query) => new Promise((resolve) => {
    const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/chat/subscribe${query}`, ['v1.json.spacetimedb']);
    ws.addEventListener('open', () => { ws.close(); resolve(true); }, { once: true });
    ws.addEventListener('error', () => resolve(false), { once: true });
  });
  assert.equal(await opens('?light=false'), true);
  assert.equal(await opens('?light=maybe'), false, 'light must be true or false');
});

test('a failed Subscribe keeps the last; quick ones replace in order; a taken query id changes nothing', async (t) => {
  ok(run('publish', 'shelf', '-j', path.join(bundles, 'library.js')));
  const c = await connect(t, 'shelf');
  c.send({ Subscribe: { query_strings: ['SELECT * FROM author'], request_id: 1 } });
  await c.next('InitialSubscription');
  c.send({ Subscribe: { query_strings: ['SELECT * FROM nowhere'], request_id: 2 } });
  const failed = await c.next('SubscriptionError');
  assert.deepEqual([failed.request_id, failed.query_id], [{ some: 2 }, { none: [] }]);
  ok(run('call', 'shelf', 'add_author', '1', '"Butler"'));
  const still = await c.next('TransactionUpdateLight');
  assert.deepEqual(rowsOf(still.update).map((r) => r.name), ['Butler'], 'the first Subscribe still holds');

  // Two Subscribes sent back to back: each applies, and the second is what is followed.
  c.send({ Subscribe: { query_strings: ['SELECT * FROM author'], request_id: 3 } });
  c.send({ Subscribe: { query_strings: ['SELECT * FROM book'], request_id: 4 } });
  assert.equal((await c.next('InitialSubscription')).request_id, 3);
  assert.equal((await c.next('InitialSubscription')).request_id, 4);
  ok(run('call', 'shelf', 'add_author', '2', '"Jemisin"'));
  ok(run('call', 'shelf', 'add_book', '20', '2', '"The Fifth Season"'));
  const light = await c.next('TransactionUpdateLight');
  assert.deepEqual(light.update.tables.map((x) => x.table_name), ['book']);

  c.send({ SubscribeMulti: { query_strings: ['SELECT * FROM author'], request_id: 5, query_id: { id: 6 } } });
  await c.next('SubscribeMultiApplied');
  c.send({ SubscribeMulti: { query_strings: ['SELECT * FROM book'], request_id: 6, query_id: { id: 6 } } });
  assert.deepEqual((await c.next('SubscriptionError')).request_id, { some: 6 });
  c.send({ UnsubscribeMulti: { request_id: 7, query_id: { id: 6 } } });
  assert.equal((await c.next('UnsubscribeMultiApplied')).request_id, 7);
});

test('after a republish, rows are read with the new module', async (t) => {
  ok(run('publish', 'swap', '-j', path.join(bundles, 'library.js')));
  const c = await connect(t, 'swap');
  ok(run('publish', 'swap', '-j', path.join(bundles, 'chat.js'), '--delete-data', '-y'));
  c.send({ Subscribe: { query_strings: ['SELECT * FROM message'], request_id: 1 } });
  await c.next('InitialSubscription');
  c.send({ CallReducer: { reducer: 'send_message', args: '["new module"]', request_id: 2, flags: 0 } });
  const update = await c.next('TransactionUpdate');
  assert.deepEqual(rowsOf(update.status.Committed).map((r) => r.text), ['new module']);
});


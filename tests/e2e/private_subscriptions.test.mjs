// Subscriptions filtered by `:sender`: two clients subscribing with the same
// query text each see only their own rows, in the initial rows and in every
// later update; a connection id in use belongs to its client. Real `spacetimedb`
// 2.10.1 SDK against a real `orrery start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import { cli, removeDir, sdkBindings, startHost, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global
// The SDK logs each connection to stdout, which the test runner also reads.
setGlobalLogLevel('warn');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const project = path.join(root, 'tests/modules/owned-items');
// The bundle the build made, else one `orrery build -p` made, else the CLI builds the project.
const built = [path.join(bundles, 'owned-items.js'), path.join(project, 'dist/bundle.js')].find((f) => existsSync(f));
const moduleArgs = built ? ['-j', built] : ['-p', project];
const MINE = 'SELECT * FROM item WHERE owner = :sender';
let dataDir, host, me, items;

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

before(async () => {
  dataDir = tempDir('private-subs');
  me = tempDir('private-subs-me');
  host = await startHost(dataDir);
  ok(cli(me, ['publish', 'owned', ...moduleArgs, '-s', host.url]));
  items = await sdkBindings('owned-items-private', moduleArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

/** A connected client that records every row the host ever inserted into its
 *  cache; it disconnects when test `t` ends, passed or not. */
function connect(t, database) {
  return new Promise((resolve, reject) => {
    let gone;
    const closed = new Promise((resolve) => { gone = resolve; });
    items.DbConnection.builder().withUri(host.url).withDatabaseName(database)
      .onConnect((conn, identity) => {
        const inserted = [];
        conn.db.item.onInsert((_ctx, row) => inserted.push(row));
        t.after(async () => {
          conn.disconnect();
          await closed;
        });
        resolve({ conn, identity, inserted });
      })
      .onDisconnect(() => gone())
      .onConnectError((_ctx, e) => reject(e))
      .build();
  });
}

function subscribe(conn, queries) {
  return new Promise((resolve, reject) => {
    const handle = conn.subscriptionBuilder().onApplied(() => resolve(handle))
      .onError((_ctx, e) => reject(e ?? new Error('subscription failed'))).subscribe(queries);
  });
}

const names = (client) => [...client.conn.db.item.iter()].map((r) => r.name).sort();
const hex = (identity) => identity.toHexString();

/** Every row the client ever received belongs to it. */
function assertOnlyOwn(client, who) {
  const foreign = client.inserted.filter((r) => !r.owner.isEqual(client.identity));
  assert.deepEqual(foreign.map((r) => `${r.name} (owner ${hex(r.owner)})`), [],
    `${who} (${hex(client.identity)}) received rows of other identities`);
  for (const row of client.conn.db.item.iter()) assert.ok(row.owner.isEqual(client.identity), `${who} holds ${row.name}`);
}

test('two clients with the same :sender query each see only their own items', async (t) => {
  const a = await connect(t, 'owned');
  const b = await connect(t, 'owned');
  assert.ok(!a.identity.isEqual(b.identity), 'the two clients have different identities');

  await a.conn.reducers.add({ name: 'a1' });
  await a.conn.reducers.add({ name: 'a2' });
  await b.conn.reducers.add({ name: 'b1' });

  // Identical query text, subscribed one after the other.
  await subscribe(a.conn, [MINE]);
  await subscribe(b.conn, [MINE]);
  assert.deepEqual(names(a), ['a1', 'a2'], 'A\'s initial rows');
  assert.deepEqual(names(b), ['b1'], 'B\'s initial rows');
  assertOnlyOwn(a, 'A');
  assertOnlyOwn(b, 'B');

  // A commits first; B's own commit follows, and updates reach each client in
  // commit order, so once B holds b2 anything of a3 meant for B has arrived.
  await a.conn.reducers.add({ name: 'a3' });
  await waitUntil(() => names(a).includes('a3'), 'A to see a3');
  await b.conn.reducers.add({ name: 'b2' });
  await waitUntil(() => names(b).includes('b2'), 'B to see b2');
  await a.conn.reducers.add({ name: 'a4' });
  await waitUntil(() => names(a).includes('a4'), 'A to see a4');

  assert.deepEqual(names(a), ['a1', 'a2', 'a3', 'a4']);
  assert.deepEqual(names(b), ['b1', 'b2']);
  assertOnlyOwn(a, 'A');
  assertOnlyOwn(b, 'B');

  // The table holds everyone's rows: the filter is what kept them apart.
  const all = JSON.parse(ok(cli(me, ['sql', 'owned', 'SELECT name FROM item', '--format', 'json', '-s', host.url])));
  assert.deepEqual(all[0].rows.map((r) => r[0]).sort(), ['a1', 'a2', 'a3', 'a4', 'b1', 'b2']);

});

test('a client without items sees none of another client\'s items, before or after they are added', async (t) => {
  const a = await connect(t, 'owned');
  const c = await connect(t, 'owned');
  await subscribe(a.conn, [MINE]);
  await subscribe(c.conn, [MINE]);
  assert.equal(names(c).length, 0, `C starts with no items, got ${names(c)}`);
  const before = names(a).length;

  await a.conn.reducers.add({ name: 'late-a' });
  await waitUntil(() => names(a).includes('late-a'), 'A to see late-a');
  assert.equal(names(a).length, before + 1);
  // C's own commit comes after A's: once C holds it, late-a had its chance.
  await c.conn.reducers.add({ name: 'c1' });
  await waitUntil(() => names(c).includes('c1'), 'C to see c1');
  assert.deepEqual(names(c), ['c1']);
  assertOnlyOwn(a, 'A');
  assertOnlyOwn(c, 'C');

  // The same query in a second query set of the same client: still only its own rows.
  const again = await subscribe(c.conn, [MINE]);
  assert.deepEqual(names(c), ['c1']);
  assertOnlyOwn(c, 'C');
  await new Promise((resolve) => again.unsubscribeThen(() => resolve()));

});

test('subscribing in the other order gives the same separation', async (t) => {
  const d = await connect(t, 'owned');
  const e = await connect(t, 'owned');
  await e.conn.reducers.add({ name: 'e1' });
  await d.conn.reducers.add({ name: 'd1' });
  // The later identity subscribes first this time.
  await subscribe(e.conn, [MINE]);
  await subscribe(d.conn, [MINE]);
  assert.deepEqual(names(e), ['e1']);
  assert.deepEqual(names(d), ['d1']);
  await e.conn.reducers.add({ name: 'e2' });
  await waitUntil(() => names(e).includes('e2'), 'E to see e2');
  await d.conn.reducers.add({ name: 'd2' });
  await waitUntil(() => names(d).includes('d2'), 'D to see d2');
  assert.deepEqual(names(e), ['e1', 'e2']);
  assert.deepEqual(names(d), ['d1', 'd2']);
  assertOnlyOwn(d, 'D');
  assertOnlyOwn(e, 'E');
});

/** A raw WebSocket to the subscribe endpoint; resolves with the first thing that happens. */
function firstEvent(query) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/owned/subscribe?compression=None&${query}`,
                             ['v2.bsatn.spacetimedb']);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', () => resolve({ ws, event: 'message' }), { once: true });
    ws.addEventListener('close', (e) => resolve({ ws, event: 'close', code: e.code }), { once: true });
  });
}

test('a connection id in use is refused to another identity, and may be used again once free', async () => {
  const id = 'c0ffee00c0ffee00c0ffee00c0ffee01';
  const first = await firstEvent(`connection_id=${id}`);
  assert.equal(first.event, 'message', 'the first client is greeted');
  // No token: the host mints a new identity for this one.
  const second = await firstEvent(`connection_id=${id}`);
  assert.equal(second.event, 'close', 'a second identity on the same connection id is closed unanswered');
  first.ws.close();
  await waitUntil(() => first.ws.readyState === WebSocket.CLOSED, 'the first client to close');
  let third;
  for (let attempt = 0; attempt < 50; attempt++) {  // the host hears of the close a moment later
    third = await firstEvent(`connection_id=${id}`);
    if (third.event === 'message') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(third.event, 'message', 'the connection id is free again');
  third.ws.close();
});

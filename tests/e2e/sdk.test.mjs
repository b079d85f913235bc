// Live clients with the real `spacetimedb` 2.10.1 SDK, through bindings made
// by `orrery generate`, against a real `orrery start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'undici';
import { cli, orreryBin, removeDir, sdkBindings, startHost, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
// Inside the repository, so the bindings resolve the same `spacetimedb` as this test.
const work = path.join(root, 'build', 'sdk-test');
let dataDir, host, me, chat, library;

// Generates bindings with the real CLI and bundles them for Node, keeping the SDK external.
function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

before(async () => {
  mkdirSync(work, { recursive: true });
  dataDir = tempDir('sdk');
  me = tempDir('sdk-me');
  host = await startHost(dataDir);
  ok(cli(me, ['publish', 'chat', '-p', 'examples/chat', '-s', host.url]));
  ok(cli(me, ['publish', 'library', '-j', path.join(bundles, 'library.js'), '-s', host.url]));
  chat = await sdkBindings('chat', ['-p', 'examples/chat']);
  library = await sdkBindings('library', ['-j', path.join(bundles, 'library.js')]);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

function connect(module, database, { token, compression = 'gzip', confirmed } = {}) {
  return new Promise((resolve, reject) => {
    const builder = module.DbConnection.builder().withUri(host.url).withDatabaseName(database).withCompression(compression)
      .onConnect((conn, identity, savedToken) => resolve({ conn, identity, token: savedToken }))
      .onConnectError((_ctx, e) => reject(e));
    if (token) builder.withToken(token);
    if (confirmed !== undefined) builder.withConfirmedReads(confirmed);
    builder.build();
  });
}

function subscribe(conn, queries) {
  return new Promise((resolve, reject) => {
    const handle = conn.subscriptionBuilder().onApplied(() => resolve(handle)).onError((_ctx, e) => reject(e ?? new Error('subscription failed'))).subscribe(queries);
  });
}

test('two chat clients see each other\'s messages live', async () => {
  const alice = await connect(chat, 'chat');
  const bob = await connect(chat, 'chat', { compression: 'none' });
  await subscribe(alice.conn, ['SELECT * FROM message', 'SELECT * FROM user']);
  await subscribe(bob.conn, ['SELECT * FROM message']);
  const seenByBob = [];
  bob.conn.db.message.onInsert((_ctx, row) => seenByBob.push(row.text));
  await alice.conn.reducers.setName({ name: 'Alice' });
  await alice.conn.reducers.sendMessage({ text: 'hello bob' });
  await waitUntil(() => seenByBob.includes('hello bob'), 'bob to see alice\'s message');
  const seenByAlice = [];
  alice.conn.db.message.onInsert((_ctx, row) => seenByAlice.push(row.text));
  await bob.conn.reducers.sendMessage({ text: 'hi alice' });
  await waitUntil(() => seenByAlice.includes('hi alice'), 'alice to see bob\'s message');
  const me = [...alice.conn.db.user.iter()].find((u) => u.identity.isEqual(alice.identity));
  assert.equal(me?.name, 'Alice');
  assert.equal(me?.online, true);
  alice.conn.disconnect();
  bob.conn.disconnect();
});

test('a reducer that throws reaches only its caller, as an error', async () => {
  const caller = await connect(chat, 'chat');
  const other = await connect(chat, 'chat');
  await subscribe(caller.conn, ['SELECT * FROM message']);
  await subscribe(other.conn, ['SELECT * FROM message']);
  let otherEvents = 0;
  other.conn.db.message.onInsert(() => otherEvents++);
  await assert.rejects(caller.conn.reducers.sendMessage({ text: '' }), /Messages must not be empty/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(otherEvents, 0);
  caller.conn.disconnect();
  other.conn.disconnect();
});

test('unsubscribing removes the rows from the client cache', async () => {
  const client = await connect(chat, 'chat');
  const handle = await subscribe(client.conn, ['SELECT * FROM message']);
  assert.ok([...client.conn.db.message.iter()].length >= 2);
  await new Promise((resolve) => handle.unsubscribeThen(() => resolve()));
  await waitUntil(() => [...client.conn.db.message.iter()].length === 0, 'the cache to empty');
  client.conn.disconnect();
});

test('a join subscription updates when either side changes', async () => {
  const owner = await connect(library, 'library');
  await owner.conn.reducers.addAuthor({ id: 1, name: 'Le Guin' });
  await owner.conn.reducers.addAuthor({ id: 2, name: 'Lem' });
  await owner.conn.reducers.addBook({ id: 10, authorId: 1, title: 'Earthsea' });
  const reader = await connect(library, 'library');
  await subscribe(reader.conn, ["SELECT book.* FROM book JOIN author ON book.author_id = author.id WHERE author.name = 'Lem'"]);
  const titles = () => [...reader.conn.db.book.iter()].map((b) => b.title).sort().join(',');
  assert.equal(titles(), '');
  await owner.conn.reducers.addBook({ id: 11, authorId: 2, title: 'Solaris' });   // the book side
  await waitUntil(() => titles() === 'Solaris', 'the new book of Lem');
  await owner.conn.reducers.renameAuthor({ id: 1, name: 'Lem' });                  // the author side
  await waitUntil(() => titles() === 'Earthsea,Solaris', 'books of the renamed author');
  await owner.conn.reducers.renameAuthor({ id: 2, name: 'Stanisław' });
  await waitUntil(() => titles() === 'Earthsea', 'Solaris to leave');
  owner.conn.disconnect();
  reader.conn.disconnect();
});

test('a client reconnecting with its saved token keeps its identity', async () => {
  const first = await connect(chat, 'chat');
  first.conn.disconnect();
  const again = await connect(chat, 'chat', { token: first.token });
  assert.ok(again.identity.isEqual(first.identity));
  again.conn.disconnect();
});

test('an anonymous client cannot subscribe to a private table', async () => {
  const stranger = await connect(library, 'library');
  await assert.rejects(subscribe(stranger.conn, ['SELECT * FROM audit']));
  await subscribe(stranger.conn, ['SELECT * FROM author']);
  assert.ok([...stranger.conn.db.author.iter()].length >= 2);
  stranger.conn.disconnect();
});

test('bindings generated from the published database match those from the module', () => {
  const fromDb = path.join(work, 'library-from-db');
  execFileSync(orreryBin, ['generate', '--out-dir', fromDb, '--database', 'library', '-s', host.url], {
    cwd: root, env: { ...process.env, ORRERY_CONFIG_DIR: me },
  });
  const read = (dir) => execFileSync('cat', [path.join(dir, 'index.ts')]).toString();
  assert.equal(read(fromDb), read(path.join(work, 'library')));
});

test('republishing with cleared data ends the subscriptions on its tables', async () => {
  const client = await connect(library, 'library');
  await subscribe(client.conn, ['SELECT * FROM author']);
  ok(cli(me, ['publish', 'library', '-j', path.join(bundles, 'library.js'), '--delete-data', '-y', '-s', host.url]));
  await waitUntil(() => !client.conn.isActive, 'the SDK to drop the connection whose subscription broke');
  // The database serves new clients with its fresh, empty tables.
  const fresh = await connect(library, 'library');
  await subscribe(fresh.conn, ['SELECT * FROM author']);
  assert.equal([...fresh.conn.db.author.iter()].length, 0);
  fresh.conn.disconnect();
});

test('clients that ask for unconfirmed reads get their updates too', async () => {
  const fast = await connect(chat, 'chat', { confirmed: false });
  const careful = await connect(chat, 'chat', { confirmed: true });
  await subscribe(fast.conn, ['SELECT * FROM message']);
  await subscribe(careful.conn, ['SELECT * FROM message']);
  const seen = [];
  careful.conn.db.message.onInsert((_ctx, row) => seen.push(row.text));
  await fast.conn.reducers.sendMessage({ text: 'quick' });
  assert.ok([...fast.conn.db.message.iter()].some((m) => m.text === 'quick'));
  await waitUntil(() => seen.includes('quick'), 'the confirmed client to see it');
  fast.conn.disconnect();
  careful.conn.disconnect();
});

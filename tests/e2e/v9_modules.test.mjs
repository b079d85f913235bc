// A module built with the 1.x library (RawModuleDef V9 over spacetime:sys@1.x),
// published and used as its users would: the CLI, SQL, a schedule, a view,
// and a 2.x SDK client with bindings from `orrery generate`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, connectClient, ok, removeDir, sdkBindings, startHost, subscribeTo, tempDir, waitUntil } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
const bundle = path.join(bundles, 'v9-chat.js');
let dataDir, host, me;

const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('v9');
  me = tempDir('v9-me');
  host = await startHost(dataDir);
  ok(run('publish', 'v9chat', '-j', bundle));
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

test('names are kept as the module writes them', () => {
  const schema = JSON.parse(ok(run('describe', '--json', 'v9chat')));
  assert.deepEqual(schema.tables.map((t) => t.name), ['UserAccount', 'message', 'reminder']);
  assert.deepEqual(schema.reducers.map((r) => r.name),
    ['setName', 'sendMessage', 'deleteMine', 'remindLater', 'remind', 'on_connect', 'on_disconnect']);
  const user = schema.typespace.types[schema.tables[0].product_type_ref];
  assert.deepEqual(user.Product.elements.map((e) => e.name.some), ['identity', 'displayName', 'online']);
});

test('reducers run, fail with the module\'s message, and SQL reads their rows', () => {
  ok(run('call', 'v9chat', 'setName', '"ann"'));
  const refused = run('call', 'v9chat', 'setName', '""');
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /Names must not be empty/);
  assert.match(ok(run('sql', 'v9chat', 'SELECT displayName FROM UserAccount')), /ann/);
  ok(run('call', 'v9chat', 'sendMessage', '"one"'));
  ok(run('call', 'v9chat', 'sendMessage', '"two"'));
  assert.match(ok(run('sql', 'v9chat', 'SELECT * FROM message_count')), /\b2\b/);
  // The named index finds the caller's messages, and the primary key deletes them.
  ok(run('call', 'v9chat', 'deleteMine'));
  assert.match(ok(run('sql', 'v9chat', 'SELECT COUNT(*) AS n FROM message')), /\b0\b/);
});

test('a 2.x SDK client connects, subscribes and hears reducer and scheduled writes', async (t) => {
  const bindings = await sdkBindings('v9-chat', ['-j', bundle]);
  const { conn, identity } = await connectClient(t, bindings, host.url, 'v9chat');
  await subscribeTo(conn, ['SELECT * FROM message', 'SELECT * FROM UserAccount']);
  // on_connect marked the client online.
  await waitUntil(() => [...conn.db.userAccount.iter()].some((u) => u.identity.isEqual(identity) && u.online),
    'the client to be online');
  const heard = [];
  conn.db.message.onInsert((_ctx, row) => heard.push(row.text));
  await conn.reducers.sendMessage({ text: 'hi from the SDK' });
  await conn.reducers.remindLater({ text: 'tea' });
  await waitUntil(() => heard.includes('reminder: tea'), 'the scheduled reminder');
  assert.deepEqual(heard, ['hi from the SDK', 'reminder: tea']);
});

test('the module keeps working after a restart', async () => {
  await host.stop();
  host = await startHost(dataDir);
  ok(run('call', 'v9chat', 'sendMessage', '"after restart"'));
  assert.match(ok(run('sql', 'v9chat', "SELECT text FROM message WHERE text = 'after restart'")), /after restart/);
});

// Event tables: a row lives only inside the transaction that inserted it. It is
// broadcast to the table's subscribers and never stored, so later queries and
// transactions do not see it. Real `spacetimedb` 2.10.1 SDK, bindings from
// `orrery generate`, real `orrery start`.
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
const moduleArgs = ['-j', path.join(bundles, 'event-table.js')];
let dataDir, host, me, game;

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('events');
  me = tempDir('events-me');
  host = await startHost(dataDir);
  ok(run('publish', 'game', ...moduleArgs));
  game = await sdkBindings('event-table', moduleArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

const connect = async (t) => (await connectClient(t, game, host.url, 'game')).conn;
const subscribe = subscribeTo;

test('subscribers observe each event once; SQL and later transactions never see it', async (t) => {
  const watcher = await connect(t);
  const events = [];
  watcher.db.damage.onInsert((_ctx, row) => events.push(`${row.target}:${row.amount}`));
  await subscribe(watcher, ['SELECT * FROM damage', 'SELECT * FROM health']);

  const player = await connect(t);
  await player.reducers.hit({ target: 7, amount: 30 });
  await player.reducers.hit({ target: 7, amount: 25 });
  await waitUntil(() => events.length === 2, 'the watcher to observe two events');
  assert.deepEqual(events, ['7:30', '7:25']);
  // The SDK keeps no event rows; the ordinary table holds the outcome.
  assert.equal(watcher.db.damage.count(), 0n);
  await waitUntil(() => watcher.db.health.id.find(7)?.hp === 45, 'the watcher to see hp 45');

  // Each transaction saw only its own event.
  const logs = ok(run('logs', 'game'));
  assert.equal((logs.match(/damage rows in this transaction: 1/g) ?? []).length, 2, logs);
  assert.doesNotMatch(logs, /damage rows in this transaction: 2/);

  const count = JSON.parse(ok(run('sql', 'game', 'SELECT COUNT(*) AS n FROM damage', '--format', 'json')));
  assert.deepEqual(count[0].rows, [[0]]);
  const subscribed = ok(run('subscribe', 'game', 'SELECT * FROM damage', '--print-initial-update', '-n', '0', '-t', '1'));
  assert.doesNotMatch(subscribed, /"target"/);

  // A join over an event table could not be kept up to date: refused by name.
  await assert.rejects(subscribe(watcher, ['SELECT h.* FROM health h JOIN damage d ON d.target = h.id']),
    /`damage` is an event table, which a subscription cannot join/);

  // Still nothing stored after a restart.
  const address = host.url.replace('http://', '');
  await host.stop();
  host = await startHost(dataDir, address);
  const after = JSON.parse(ok(run('sql', 'game', 'SELECT COUNT(*) AS n FROM damage', '--format', 'json')));
  assert.deepEqual(after[0].rows, [[0]]);
  assert.match(ok(run('sql', 'game', 'SELECT hp FROM health WHERE id = 7')), / 45\n/);
});

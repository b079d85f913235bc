// Latency from a reducer call to the subscriber seeing the change, through a
// plain table subscription and through a view over the same table, with the
// real SDK against a real host: prints p50 and p99 of each. `make bench` runs it.
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, removeDir, sdkBindings, startHost, tempDir } from '../e2e/harness.mjs';
globalThis.WebSocket = WebSocket;
setGlobalLogLevel('warn');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const dataDir = tempDir('vl'), me = tempDir('vl-me');
const host = await startHost(dataDir);
const args = ['-j', path.join(bundles, 'views.js')];
cli(me, ['publish', 'tasks', ...args, '-s', host.url]);
const b = await sdkBindings('views-lat', args);
const conn = await new Promise((res, rej) => b.DbConnection.builder().withUri(host.url).withDatabaseName('tasks')
  .onConnect((c) => res(c)).onConnectError((_c, e) => rej(e)).build());
await new Promise((res, rej) => conn.subscriptionBuilder().onApplied(res).onError((_c, e) => rej(e))
  .subscribe(['SELECT * FROM task', 'SELECT * FROM my_tasks']));
const waiters = new Map();
const seen = (kind) => (_ctx, row) => { const w = waiters.get(`${kind}:${row.id}`); if (w) w(); };
conn.db.task.onInsert(seen('task'));
conn.db.myTasks.onInsert(seen('view'));
const lat = { task: [], view: [] };
for (let i = 1; i <= 300; i++) {
  const t0 = performance.now();
  const got = (kind) => new Promise((r) => waiters.set(`${kind}:${i}`, () => { lat[kind].push(performance.now() - t0); r(); }));
  const both = Promise.all([got('task'), got('view')]);
  conn.reducers.addTask({ id: i, title: `t${i}` });
  await both;
}
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))].toFixed(2); };
console.log(`view latency (CPU: ${os.cpus()[0]?.model}, ${os.cpus().length} cores)`);
for (const k of ['task', 'view']) console.log(`${k}: p50 ${pct(lat[k], 0.5)} ms p99 ${pct(lat[k], 0.99)} ms (n=${lat[k].length})`);
conn.disconnect();
await host.stop();
removeDir(dataDir); removeDir(me);
process.exit(0);

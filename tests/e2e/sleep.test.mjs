// Databases that sleep when idle: a database without clients or calls for the
// idle timeout drops its module and tables, and wakes with its next request or
// its next schedule, its data and schedules intact, on this host and after a
// restart. Requests that arrive as it falls asleep are served, not lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cli, removeDir, sdkBindings, startHost, tempDir, waitUntil } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
const bundle = path.join(bundles, 'everything.js');
const moduleArgs = existsSync(bundle) ? ['-j', bundle] : ['-p', 'tests/modules/everything'];
const idleSeconds = 0.3;
const hostArgs = ['--idle-timeout', String(idleSeconds)];
let dataDir, me, host;

before(async () => {
  dataDir = tempDir('sleep');
  me = tempDir('sleep-me');
  host = await startHost(dataDir, '127.0.0.1:0', hostArgs);
});

after(async () => {
  const exited = await host?.stop();
  removeDir(dataDir);
  removeDir(me);
  assert.deepEqual(exited, { code: 0, signal: null });
});

const run = (...args) => cli(me, [...args, '-s', host.url]);
const ok = (r) => {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logs = (db) => ok(run('logs', db));
const count = (text, pattern) => (text.match(pattern) ?? []).length;
const asleepLines = (db) => count(logs(db), /Asleep after 0\.3 s/g);

/** The database's log once it matches `pattern`. */
function waitForLog(db, pattern, ms = 5000) {
  return waitUntil(() => {
    const text = logs(db);
    return pattern.test(text) && text;
  }, `${pattern} in the logs of ${db}`, ms, 50);
}

async function call(db, reducer, args = []) {
  const res = await fetch(`${host.url}/v1/database/${db}/call/${reducer}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(args),
  });
  return { status: res.status, text: await res.text() };
}

test('an idle database falls asleep and wakes with its data for the next call', async () => {
  ok(run('publish', 'napper', ...moduleArgs));
  ok(run('call', 'napper', 'remember', '1', 'one'));
  await waitForLog('napper', /Asleep after 0\.3 s without clients or calls/);
  ok(run('call', 'napper', 'remember', '2', 'two'));
  ok(run('call', 'napper', 'recall'));
  const text = await waitForLog('napper', /secrets: 1:one,2:two/);
  assert.match(text, /Asleep[^\n]*\n(.*\n)*.*Awake/, 'it woke after it slept');
  // SQL wakes it too.
  await waitForLog('napper', /Asleep[^\n]*\n(.*\n)*.*Awake[^\n]*\n(.*\n)*.*Asleep/);
  assert.match(ok(run('sql', 'napper', 'SELECT * FROM secret')), /two/);
});

test('list --long shows a sleeping database as asleep, and asking does not wake it', async () => {
  ok(run('publish', 'lister', ...moduleArgs));
  await waitForLog('lister', /Asleep after 0\.3 s/);
  const before = logs('lister');
  const listed = ok(run('list', '--long'));
  assert.match(listed, /State\s*\|\s*Memory/);
  assert.match(listed, /lister\s+\| [0-9a-f]{64} \| owner \| asleep\s+\| -/);
  await sleep(500);
  const after = logs('lister');
  assert.equal(count(after, /Awake/g), count(before, /Awake/g), 'listing did not wake it');
  assert.equal(count(after, /Asleep/g), count(before, /Asleep/g), 'nor did it sleep again');
});

test('a schedule fires while its database sleeps', async () => {
  ok(run('publish', 'ticker', ...moduleArgs));
  ok(run('call', 'ticker', 'every', '1000', 'beat'));
  // Ticks every second, idle after 0.3 s: it sleeps between ticks, and the
  // registry wakes it for each one.
  await waitUntil(() => count(logs('ticker'), /tick beat/g) >= 3, 'three ticks', 8000);
  const text = logs('ticker');
  assert.ok(asleepLines('ticker') >= 2, `it slept between ticks:\n${text}`);
  assert.match(text, /Asleep[^\n]*next schedule/);
  ok(run('call', 'ticker', 'stop_ticks'));
});

test('a connected client keeps its database awake', async () => {
  ok(run('publish', 'watched', ...moduleArgs));
  const everything = await sdkBindings('everything-sleep', moduleArgs);
  await waitForLog('watched', /Asleep/);
  const conn = await new Promise((resolve, reject) => {
    everything.DbConnection.builder().withUri(host.url).withDatabaseName('watched')
      .onConnect((c) => resolve(c))
      .onConnectError((_ctx, e) => reject(e))
      .build();
  });
  const sleptBefore = asleepLines('watched');
  await sleep(idleSeconds * 1000 * 4);
  assert.equal(asleepLines('watched'), sleptBefore, 'no sleep while a client is connected');
  conn.disconnect();
  await waitUntil(() => asleepLines('watched') > sleptBefore, 'sleep once the client left', 5000);
});

test('calls that arrive as the database falls asleep are all served', async () => {
  ok(run('publish', 'edge', ...moduleArgs));
  // Gaps around the idle timeout: some calls land on an awake database, some
  // wake it, some reach it as it falls asleep.
  let served = 0;
  for (let i = 0; i < 40; i++) {
    const r = await call('edge', 'remember', [i, `n${i}`]);
    assert.equal(r.status, 200, `call ${i}: ${r.text}`);
    served++;
    await sleep(idleSeconds * 1000 - 20 + (i % 5) * 10);
  }
  const rows = ok(run('sql', 'edge', 'SELECT COUNT(*) AS n FROM secret'));
  assert.match(rows, new RegExp(`\\b${served}\\b`));
  assert.ok(asleepLines('edge') >= 5, 'it slept in between');
});

test('a sleeping database wakes for its schedule after a restart', async () => {
  ok(run('publish', 'alarm', ...moduleArgs));
  ok(run('call', 'alarm', 'every', '1500', 'after-restart'));
  await waitForLog('alarm', /Asleep[^\n]*next schedule/);
  const address = host.url.replace('http://', '');
  await host.stop();
  host = await startHost(dataDir, address, hostArgs);
  const before = count(logs('alarm'), /tick after-restart/g);
  // No request reaches it: the registry wakes it for its schedule.
  await waitUntil(() => count(logs('alarm'), /tick after-restart/g) >= before + 2, 'ticks after the restart', 8000);
  ok(run('call', 'alarm', 'stop_ticks'));
});

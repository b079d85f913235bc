// Modules as users run them: published to a real host, driven with `orrery call`,
// observed through `orrery logs`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;
const hostArgs = ['--reducer-time-budget-ms', '1500', '--module-heap-limit-mb', '64'];

before(async () => {
  dataDir = tempDir('modules');
  me = tempDir('me');
  host = await startHost(dataDir, '127.0.0.1:0', hostArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

const run = (...args) => cli(me, [...args, '-s', host.url]);
const ok = (r) => {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
};
const logs = (db) => ok(run('logs', db));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForLog(db, pattern, ms = 5000) {
  const start = Date.now();
  for (;;) {
    const text = logs(db);
    if (pattern.test(text)) return text;
    if (Date.now() - start > ms) assert.fail(`no ${pattern} in logs:\n${text}`);
    await sleep(100);
  }
}

test('the chat example publishes from its project and runs', async () => {
  const published = ok(run('publish', 'chat', '-p', 'examples/chat'));
  assert.match(published, /Created new database with name: chat/);
  ok(run('call', 'chat', 'set_name', '"Alice"'));
  ok(run('call', 'chat', 'send_message', 'hello world'));
  assert.match(logs('chat'), /INFO: User c200[0-9a-f]+: hello world/);

  const empty = run('call', 'chat', 'send_message', '""');
  assert.notEqual(empty.status, 0);
  assert.match(empty.stderr, /HTTP 530\): Messages must not be empty/);
  assert.match(run('call', 'chat', 'nope').stderr, /HTTP 404\): no such reducer: `nope`/);
  assert.match(run('call', 'chat', 'set_name', '1', '2').stderr, /HTTP 400\): invalid arguments for reducer `set_name`/);
  assert.match(run('call', 'chat', 'on_connect').stderr, /HTTP 400\): `on_connect` is a lifecycle reducer/);

  const schema = JSON.parse(ok(run('describe', '--json', 'chat')));
  assert.deepEqual(schema.tables.map((t) => t.name), ['user', 'message']);
  // Reducers are also addressed by id: their position in the definition.
  const id = schema.reducers.findIndex((r) => r.name === 'send_message');
  assert.ok(id >= 0);
  ok(run('call', 'chat', String(id), 'by id'));
  assert.match(logs('chat'), /: by id\n/);
  const res = await fetch(`${host.url}/v1/database/chat/schema`);
  assert.equal(res.status, 400);
});

test('every column type, index kind and error path', async () => {
  ok(run('publish', 'everything', '-j', path.join(bundles, 'everything.js')));
  ok(run('call', 'everything', 'insert_thing', 'abc', '1', '5'));
  ok(run('call', 'everything', 'insert_thing', 'xy', '1', '9'));
  ok(run('call', 'everything', 'insert_thing', 'zzz', '2', '1'));
  ok(run('call', 'everything', 'check_types'));
  ok(run('call', 'everything', 'find_code', 'abc'));
  ok(run('call', 'everything', 'count_group', '1'));
  ok(run('call', 'everything', 'count_range', '1', '0', '6'));
  ok(run('call', 'everything', 'set_rank', 'abc', '7'));
  ok(run('call', 'everything', 'find_code', 'abc'));
  ok(run('call', 'everything', 'delete_below', '1', '8'));
  ok(run('call', 'everything', 'find_code', 'abc'));
  let text = logs('everything');
  assert.match(text, /inserted abc as 1\n/);
  assert.match(text, /inserted zzz as 3\n/);
  assert.match(text, /types ok for 3 rows/);
  assert.match(text, /found abc id 1 rank 5/);
  assert.match(text, /group 1 has 2 \(hash 2\)/);
  assert.match(text, /group 1 ranks \[0, 6\) has 1/);
  assert.match(text, /found abc id 1 rank 7/);
  assert.match(text, /deleted 1 below 8 in group 1/);
  assert.match(text, /missing abc/);

  const dup = run('call', 'everything', 'duplicate_code', 'xy');
  assert.match(dup.stderr, /HTTP 500\): UniqueAlreadyExists: duplicate value in unique index/);
  const user = run('call', 'everything', 'fail_user');
  assert.match(user.stderr, /HTTP 530\): you asked for it/);
  const internal = run('call', 'everything', 'fail_internal');
  assert.match(internal.stderr, /HTTP 500\): Error: kaboom/);
  ok(run('call', 'everything', 'remember', '5', 'five'));
  ok(run('call', 'everything', 'recall'));
  text = logs('everything');
  assert.match(text, /ERROR: reducer `fail_internal` failed: Error: kaboom\n\s+at fail_internal/);
  assert.match(text, /secrets: 5:five\n/);  // neither failed reducer left its row
});

test('a runaway reducer is stopped and the database answers its next call', async () => {
  const started = Date.now();
  const spin = run('call', 'everything', 'spin');
  assert.match(spin.stderr, /HTTP 500\): the reducer ran longer than 1500 ms and was stopped/);
  assert.ok(Date.now() - started < 5000);
  ok(run('call', 'everything', 'remember', '6', 'six'));
  ok(run('call', 'everything', 'recall'));
  await waitForLog('everything', /secrets: 5:five,6:six/);
});

test('a module that exhausts its heap is replaced and the database keeps serving', async () => {
  const hog = run('call', 'everything', 'hog');
  assert.match(hog.stderr, /HTTP 500\): the reducer ran out of memory and was stopped/);
  ok(run('call', 'everything', 'recall'));
  await waitForLog('everything', /WARN: Reloading the module after reducer `hog` was stopped[\s\S]*secrets: 5:five,6:six/);
});

test('schedules fire on time and stop when their row is deleted', async () => {
  ok(run('call', 'everything', 'once', '100', 'single'));
  ok(run('call', 'everything', 'every', '150', 'repeat'));
  await waitForLog('everything', /tick single/);
  await waitForLog('everything', /(tick repeat[\s\S]*){3}/);
  ok(run('call', 'everything', 'stop_ticks'));
  // Only its schedule calls a scheduled reducer.
  const direct = run('call', 'everything', 'on_tick', '[0, {"Interval": {"__time_duration_micros__": 1}}, "forged"]');
  assert.match(direct.stderr, /HTTP 400\): `on_tick` is not callable by clients/);
  const count = (logs('everything').match(/tick repeat/g) ?? []).length;
  await sleep(600);
  assert.equal((logs('everything').match(/tick repeat/g) ?? []).length, count);
  assert.equal((logs('everything').match(/tick single/g) ?? []).length, 1);
});

test('bad bundles are refused with the module error and leave nothing behind', async () => {
  const dir = tempDir('bundles');
  const cases = [
    ['syntax', 'export default {', /does not compile: SyntaxError/],
    ['throws', "throw new Error('top level says no');", /threw while loading: Error: top level says no/],
    ['nodefault', 'export const x = 1;', /no default export/],
  ];
  for (const [name, code, pattern] of cases) {
    const file = path.join(dir, `${name}.js`);
    writeFileSync(file, code);
    const r = run('publish', `bad-${name}`, '-j', file);
    assert.notEqual(r.status, 0, name);
    assert.match(r.stderr, pattern, name);
    assert.equal((await fetch(`${host.url}/v1/database/bad-${name}/identity`)).status, 404);
  }
  const init = run('publish', 'bad-init', '-j', path.join(bundles, 'bad-init.js'));
  assert.match(init.stderr, /init reducer failed: Error: init refuses to start/);
  assert.equal((await fetch(`${host.url}/v1/database/bad-init/identity`)).status, 404);
  assert.doesNotMatch(ok(run('list')), /bad-/);
  // The name is free again.
  ok(run('publish', 'bad-init', '-j', path.join(bundles, 'bank.js')));
  removeDir(dir);
});

test('data and schedules survive a restart', async () => {
  ok(run('call', 'everything', 'every', '200', 'durable'));
  await waitForLog('everything', /tick durable/);
  const address = host.url.replace('http://', '');
  await host.stop();
  host = await startHost(dataDir, address, hostArgs);
  ok(run('call', 'everything', 'recall'));
  await waitForLog('everything', /secrets: 5:five,6:six\n[\s\S]*secrets: 5:five,6:six/);
  const before = (logs('everything').match(/tick durable/g) ?? []).length;
  await sleep(800);
  assert.ok((logs('everything').match(/tick durable/g) ?? []).length > before, 'the interval keeps firing');
  ok(run('call', 'everything', 'stop_ticks'));
  ok(run('call', 'chat', 'send_message', 'after restart'));
  assert.match(logs('chat'), /after restart/);
});

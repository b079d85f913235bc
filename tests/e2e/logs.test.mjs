// Searching a database's kept log (text, level, time range) through the CLI
// and the HTTP API, and keeping it within a retention.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cli, ok, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;
const run = (...args) => cli(me, [...args, '-s', host.url]);
const jsonLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  dataDir = tempDir('logs');
  me = tempDir('logs-me');
  host = await startHost(dataDir);
  ok(run('publish', 'chat', '-j', path.join(bundles, 'chat.js')));
  ok(run('call', 'chat', 'send_message', '"the first haystack line"'));
  await new Promise((r) => setTimeout(r, 1100));  // a second apart: --since (whole seconds) can tell them apart
  ok(run('call', 'chat', 'send_message', '"a NEEDLE in it"'));
  ok(run('call', 'chat', 'send_message', '"the last haystack line"'));
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

test('--grep finds the lines holding a text, in any case', () => {
  const found = jsonLines(ok(run('logs', 'chat', '--grep', 'needle', '--format', 'json')));
  assert.equal(found.length, 1);
  assert.match(found[0].message, /a NEEDLE in it/);
  assert.match(ok(run('logs', 'chat', '--grep', 'haystack')), /first haystack[\s\S]*last haystack/);
  assert.equal(ok(run('logs', 'chat', '--grep', 'nowhere to be found')), '');
});

test('--since and --until bound the time; --level the severity', () => {
  const all = jsonLines(ok(run('logs', 'chat', '--format', 'json')));
  assert.ok(all.length >= 4);
  assert.equal(jsonLines(ok(run('logs', 'chat', '--since', '1h', '--format', 'json'))).length, all.length);
  assert.equal(ok(run('logs', 'chat', '--until', '2020-01-01')), '', 'nothing was logged before 2020');
  const needle = all.find((l) => /NEEDLE/.test(l.message)).ts;
  const since = new Date(needle / 1000).toISOString().replace(/\.\d+Z$/, 'Z');  // that second
  const later = jsonLines(ok(run('logs', 'chat', '--since', since, '--format', 'json'))).map((l) => l.message);
  assert.ok(later.some((m) => /NEEDLE/.test(m)) && later.some((m) => /last haystack/.test(m)));
  assert.ok(!later.some((m) => /first haystack/.test(m)), 'a line from before --since');
  const earlier = jsonLines(ok(run('logs', 'chat', '--until', since, '--format', 'json'))).map((l) => l.message);
  assert.ok(earlier.some((m) => /first haystack/.test(m)) && !earlier.some((m) => /NEEDLE/.test(m)));
  // The module's console.info lines are at info: shown from info up, not from error up.
  assert.match(ok(run('logs', 'chat', '--level', 'info')), /NEEDLE/);
  assert.doesNotMatch(ok(run('logs', 'chat', '--level', 'error')), /NEEDLE/);
  const bad = run('logs', 'chat', '--since', 'yesterday-ish');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /an age like 15m/);
});

test('the HTTP API searches too, and says what it cannot do', async () => {
  const token = JSON.parse(readFileSync(path.join(me, 'config.json'), 'utf8')).servers.find((s) => s.url === host.url).token;
  const get = (query) => fetch(`${host.url}/v1/database/chat/logs${query}`, { headers: { authorization: `Bearer ${token}` } });
  const res = await get('?grep=needle&num_lines=5');
  assert.equal(res.status, 200);
  assert.equal(jsonLines(await res.text()).length, 1);
  assert.equal((await get('?level=loud')).status, 400);
  assert.equal((await get('?since=yesterday')).status, 400);
  assert.equal((await get('?grep=x&follow=true')).status, 400);
  assert.equal((await get('?since=12abc')).status, 400);
  assert.equal((await get('?since=2000&until=1000')).status, 400);
  assert.equal((await fetch(`${host.url}/v1/database/chat/logs?grep=needle`)).status, 403, 'only the owner reads the log');
});

test('lines older than the retention go', async () => {
  const dir = tempDir('logs-retained');
  const short = await startHost(dir, '127.0.0.1:0', ['--log-retention-days', '0.00002']);  // about 1.7 s
  try {
    const as = (...args) => cli(me, [...args, '-s', short.url]);
    ok(as('publish', 'brief', '-j', path.join(bundles, 'chat.js')));
    ok(as('call', 'brief', 'send_message', '"old news"'));
    assert.match(ok(as('logs', 'brief')), /old news/);
    await new Promise((r) => setTimeout(r, 2500));
    assert.doesNotMatch(ok(as('logs', 'brief')), /old news/, 'lines past the retention are not read, even before one goes');
    ok(as('call', 'brief', 'send_message', '"fresh news"'));  // a new line drops those past the retention
    const kept = ok(as('logs', 'brief'));
    assert.match(kept, /fresh news/);
    assert.doesNotMatch(kept, /old news/);
    assert.doesNotMatch(kept, /Created database brief/);
  } finally {
    await short.stop();
    removeDir(dir);
  }
});

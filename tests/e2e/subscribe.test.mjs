// `orrery subscribe` against a running host: one JSON line per update.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { cli, orreryBin, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;

before(async () => {
  dataDir = tempDir('subscribe');
  me = tempDir('subscribe-me');
  host = await startHost(dataDir);
  assert.equal(cli(me, ['publish', 'chat', '-j', path.join(bundles, 'chat.js'), '-s', host.url]).status, 0);
  assert.equal(cli(me, ['call', 'chat', 'send_message', 'first', '-s', host.url]).status, 0);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

test('prints the initial rows and each update, then stops after -n updates', async () => {
  const child = spawn(orreryBin, ['subscribe', 'chat', 'SELECT * FROM message', '-n', '2', '--print-initial-update', '-s', host.url],
    { env: { ...process.env, ORRERY_CONFIG_DIR: me } });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const started = Date.now();
  while (!out.includes('first') && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(cli(me, ['call', 'chat', 'send_message', 'second', '-s', host.url]).status, 0);
  assert.equal(cli(me, ['call', 'chat', 'send_message', 'third', '-s', host.url]).status, 0);
  assert.equal(await exited, 0);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.equal(lines[0].message.inserts[0][2], 'first');
  assert.deepEqual(lines[1].message.deletes, []);
  assert.equal(lines[1].message.inserts[0][2], 'second');
  assert.equal(lines[2].message.inserts[0][2], 'third');
});

test('an unknown or private table is refused', () => {
  const r = cli(me, ['subscribe', '--anonymous', 'chat', 'SELECT * FROM nope', '-t', '2', '-s', host.url]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /subscription failed: no such table: `nope`/);
});

test('-t ends a quiet subscription', () => {
  const started = Date.now();
  const r = cli(me, ['subscribe', 'chat', "SELECT * FROM message WHERE text = 'never'", '-t', '0.5', '-s', host.url]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '');
  assert.ok(Date.now() - started < 5000);
});

// The host as a user drives it: the real `orrery start` and the real CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { cli, orreryBin, removeDir, startHost, tempDir } from './harness.mjs';

let dataDir, host, alice, bob, bundle;

before(async () => {
  dataDir = tempDir('data');
  alice = tempDir('alice');
  bob = tempDir('bob');
  bundle = path.join(process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles'), 'chat.js');
  host = await startHost(dataDir);
});

after(async () => {
  await host?.stop();
  for (const dir of [dataDir, alice, bob]) removeDir(dir);
});

const as = (who, ...args) => cli(who, [...args, '-s', host.url]);
const ok = (r) => {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
};

test('ping answers', async () => {
  const res = await fetch(`${host.url}/v1/ping`);
  assert.equal(res.status, 200);
  assert.match(ok(cli(alice, ['server', 'ping', host.url])), /Server is online/);
});

test('login, publish, list, logs, rename and delete', async () => {
  assert.match(ok(as(alice, 'login')), /Identity: c200[0-9a-f]{60}/);
  const created = ok(as(alice, 'publish', 'chat-one', '-j', bundle));
  const identity = created.match(/Created new database with name: chat-one, identity: ([0-9a-f]{64})/)[1];
  assert.match(ok(as(alice, 'publish', 'chat-one', '-j', bundle)), /Updated database with name: chat-one/);

  const list = ok(as(alice, 'list'));
  assert.match(list, new RegExp(`chat-one\\s+\\| ${identity}`));

  const logs = ok(as(alice, 'logs', 'chat-one'));
  assert.match(logs, /INFO: Created database chat-one/);
  assert.match(logs, /INFO: Updated module of database chat-one/);
  const json = ok(as(alice, 'logs', 'chat-one', '--format', 'json', '-n', '1')).trim().split('\n');
  assert.equal(json.length, 1);
  assert.equal(JSON.parse(json[0]).level, 'Info');

  // Addressable by identity too.
  assert.match(ok(as(alice, 'logs', identity, '-n', '1')), /Updated module/);

  ok(as(alice, 'rename', 'chat-one', '--to', 'chat-two'));
  const res = await fetch(`${host.url}/v1/database/chat-two/identity`);
  assert.equal(await res.text(), identity);
  assert.equal((await fetch(`${host.url}/v1/database/chat-one/identity`)).status, 404);

  const refused = as(alice, 'delete', 'chat-two', { input: 'n\n' });
  assert.notEqual(refused.status, 0);
  const asked = cli(alice, ['delete', 'chat-two', '-s', host.url], { input: 'y\n' });
  assert.equal(asked.status, 0, asked.stderr);
  assert.match(asked.stdout, /Are you sure you want to delete database chat-two \([0-9a-f]{64}\)\?/);
  assert.equal((await fetch(`${host.url}/v1/database/chat-two/identity`)).status, 404);
  assert.doesNotMatch(ok(as(alice, 'list')), /chat-two/);
});

test('logs --follow streams new lines and ends when the client goes away', async () => {
  ok(as(alice, 'publish', 'followed', '-j', bundle));
  const follower = spawn(orreryBin, ['logs', 'followed', '-f', '-s', host.url], {
    env: { ...process.env, ORRERY_CONFIG_DIR: alice },
  });
  let seen = '';
  follower.stdout.on('data', (d) => { seen += d; });
  const waitFor = (re) => new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (re.test(seen)) { clearInterval(poll); resolve(); }
      else if (Date.now() - started > 10000) { clearInterval(poll); reject(new Error(`no ${re} in ${seen}`)); }
    }, 20);
  });
  await waitFor(/Created database followed/);
  ok(as(alice, 'publish', 'followed', '-j', bundle));
  await waitFor(/Updated module of database followed/);
  ok(as(alice, 'rename', 'followed', '--to', 'followed-too'));
  await waitFor(/Names of database are now: followed-too/);
  follower.kill('SIGINT');
  await new Promise((resolve) => follower.on('exit', resolve));

  // Deleting the database ends a follow from the server side.
  const second = spawn(orreryBin, ['logs', 'followed-too', '-f', '-s', host.url], {
    env: { ...process.env, ORRERY_CONFIG_DIR: alice },
  });
  const ended = new Promise((resolve) => second.on('exit', resolve));
  await new Promise((r) => setTimeout(r, 300));
  ok(as(alice, 'delete', 'followed-too', '--yes'));
  assert.equal(await ended, 0);
});

test('a second identity can neither delete nor read logs nor republish', async () => {
  ok(as(alice, 'publish', 'alices', '-j', bundle));
  ok(as(bob, 'login'));
  const del = as(bob, 'delete', 'alices', '--yes');
  assert.notEqual(del.status, 0);
  assert.match(del.stderr, /HTTP 403.*\(no role\) may not delete database `alices`: that takes its owner/);
  const logs = as(bob, 'logs', 'alices');
  assert.notEqual(logs.status, 0);
  assert.match(logs.stderr, /HTTP 403/);
  const publish = as(bob, 'publish', 'alices', '-j', bundle);
  assert.notEqual(publish.status, 0);
  assert.match(publish.stderr, /HTTP 401.*the name `alices` belongs to another identity/);
  const rename = as(bob, 'rename', 'alices', '--to', 'bobs');
  assert.notEqual(rename.status, 0);
  assert.match(rename.stderr, /HTTP 403/);
  assert.match(ok(as(alice, 'logs', 'alices')), /Created database alices/);
});

test('a stored module creates databases by its hash, for its publisher only', async () => {
  const first = ok(as(alice, 'publish', 'hashed-one', '-j', bundle));
  const hash = first.match(/module hash: ([0-9a-f]{64})/)[1];
  const second = ok(as(alice, 'publish', 'hashed-two', '--module-hash', hash));
  assert.match(second, new RegExp(`Created new database with name: hashed-two, identity: [0-9a-f]{64}, module hash: ${hash}`));
  ok(as(alice, 'call', 'hashed-two', 'send_message', '"made from a hash"'));
  assert.match(ok(as(alice, 'sql', 'hashed-two', 'SELECT text FROM message')), /made from a hash/);
  // Awake (this host keeps databases for a minute), with the memory it holds.
  assert.match(ok(as(alice, 'list', '--long')), /hashed-two\s+\| [0-9a-f]{64} \| owner \| awake\s+\| \d+\.\d MB/);

  const stranger = as(bob, 'publish', 'bobs-copy', '--module-hash', hash);
  assert.notEqual(stranger.status, 0);
  assert.match(stranger.stderr, /no module with hash `[0-9a-f]{64}` is stored for identity/);
  const malformed = as(alice, 'publish', 'hashed-three', '--module-hash', 'abc');
  assert.notEqual(malformed.status, 0);
  assert.match(malformed.stderr, /a module hash is 64 lowercase hex digits/);
  // A bundle and a hash both is a mistake the host names.
  const token = JSON.parse(await (await fetch(`${host.url}/v1/identity`, { method: 'POST' })).text()).token;
  const both = await fetch(`${host.url}/v1/database/hashed-four?module_hash=${hash}`, {
    method: 'PUT', body: 'export default {}', headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(both.status, 400);
  assert.match(await both.text(), /not both/);
  // The host checks a hash too, not only the CLI.
  const bad = await fetch(`${host.url}/v1/database/hashed-five?module_hash=abc%26clear%3Dtrue`, {
    method: 'PUT', headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /64 lowercase hex digits/);
});

test('invalid names are refused with the reason', () => {
  for (const name of ['Bad_Name', 'double--hyphen', 'trailing-']) {
    const r = as(alice, 'publish', name, '-j', bundle);
    assert.notEqual(r.status, 0, name);
    assert.match(r.stderr, /HTTP 400.*database name/, name);
  }
  const r = as(alice, 'rename', 'alices', '--to', 'UPPER');
  assert.match(r.stderr, /HTTP 400.*lowercase/);
});

test('locked databases cannot be deleted until unlocked', async () => {
  ok(as(alice, 'publish', 'keep-me', '-j', bundle));
  const token = JSON.parse((await import('node:fs')).readFileSync(path.join(alice, 'config.json'), 'utf8'))
    .servers.find((s) => s.url === host.url).token;
  const auth = { Authorization: `Bearer ${token}` };
  assert.equal((await fetch(`${host.url}/v1/database/keep-me/lock`, { method: 'POST', headers: auth })).status, 200);
  const refused = as(alice, 'delete', 'keep-me', '--yes');
  assert.match(refused.stderr, /HTTP 403.*locked/);
  assert.equal((await fetch(`${host.url}/v1/database/keep-me/unlock`, { method: 'POST', headers: auth })).status, 200);
  ok(as(alice, 'delete', 'keep-me', '--yes'));
});

test('bad requests get clear 4xx answers and the host keeps serving', async () => {
  const minted = await (await fetch(`${host.url}/v1/identity`, { method: 'POST' })).json();
  const auth = { Authorization: `Bearer ${minted.token}` };

  let res = await fetch(`${host.url}/v1/database/alices/logs`, { headers: { Authorization: 'Bearer not-a-jwt' } });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /invalid token/);

  const parts = minted.token.split('.');
  const forged = [parts[0], Buffer.from('{"iss":"orrery","sub":"x"}').toString('base64url'), parts[2]].join('.');
  res = await fetch(`${host.url}/v1/database/alices/logs`, { headers: { Authorization: `Bearer ${forged}` } });
  assert.equal(res.status, 401);

  res = await fetch(`${host.url}/v1/identity/websocket-token`, { method: 'POST' });
  assert.equal(res.status, 401);
  res = await fetch(`${host.url}/v1/identity/websocket-token`, { method: 'POST', headers: auth });
  assert.equal(res.status, 200);
  const short = (await res.json()).token;
  res = await fetch(`${host.url}/v1/identity/${minted.identity}/verify`, { headers: { Authorization: `Bearer ${short}` } });
  assert.equal(res.status, 204);

  res = await fetch(`${host.url}/v1/database/nope/names`, { method: 'PUT', headers: auth, body: '{not json' });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /JSON array of names/);

  res = await fetch(`${host.url}/v1/database/nope-nope/identity`);
  assert.equal(res.status, 404);
  assert.match(await res.text(), /no such database: `nope-nope`/);

  res = await fetch(`${host.url}/v1/database`, { method: 'POST', headers: auth, body: '' });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /bundle is empty/);

  res = await fetch(`${host.url}/v1/database/huge`, { method: 'PUT', headers: auth, body: Buffer.alloc(65 * 1024 * 1024, 32) });
  assert.equal(res.status, 413);

  res = await fetch(`${host.url}/v1/nowhere`);
  assert.equal(res.status, 404);

  res = await fetch(`${host.url}/v1/identity/${minted.identity}/databases`);
  assert.deepEqual(await res.json(), { identities: [] });
  res = await fetch(`${host.url}/v1/ping`);
  assert.equal(res.status, 200);
});

test('databases and logs survive a restart; Ctrl-C exits cleanly', async () => {
  ok(as(alice, 'publish', 'durable', '-j', bundle));
  const before = ok(as(alice, 'list'));
  const exit = await host.stop();
  assert.deepEqual(exit, { code: 0, signal: null });

  host = await startHost(dataDir, host.url.replace('http://', ''));
  const afterList = ok(as(alice, 'list'));
  assert.match(afterList, /durable/);
  assert.equal(afterList, before);
  const logs = ok(as(alice, 'logs', 'durable'));
  assert.match(logs, /Created database durable/);
  // Tokens minted before the restart still verify: the key is kept.
  assert.match(ok(as(alice, 'publish', 'durable', '-j', bundle)), /Updated database/);
});

// `orrery sql` and POST /v1/database/:x/sql against a running host, as the
// owner and anonymously.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;

before(async () => {
  dataDir = tempDir('sql');
  me = tempDir('sql-me');
  host = await startHost(dataDir);
  ok(run('publish', 'store', '-j', path.join(bundles, 'everything.js')));
  ok(run('call', 'store', 'insert_thing', 'abc', '1', '5'));
  ok(run('call', 'store', 'insert_thing', 'xyz', '2', '8'));
  ok(run('call', 'store', 'remember', '1', 'private note'));
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

function run(...args) {
  return cli(me, [...args, '-s', host.url]);
}
function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

test('the owner queries public and private tables in psql style', () => {
  const out = ok(run('sql', 'store', 'SELECT code, "group", rank FROM thing ORDER BY rank'));
  assert.equal(out, ' code | group | rank\n------+-------+------\n abc  | 1     | 5\n xyz  | 2     | 8\n');
  assert.match(ok(run('sql', 'store', 'SELECT text FROM secret')), /private note/);
  const json = JSON.parse(ok(run('sql', 'store', 'SELECT COUNT(*) AS n FROM thing', '--format', 'json')));
  assert.deepEqual(json[0].rows, [[2]]);
  assert.deepEqual(json[0].schema.elements[0], { name: { some: 'n' }, algebraic_type: { U64: [] } });
});

test('anonymous callers see public tables only and cannot write', () => {
  assert.match(ok(run('sql', '--anonymous', 'store', 'SELECT code FROM thing WHERE id = 1')), /abc/);
  const hidden = run('sql', '--anonymous', 'store', 'SELECT * FROM secret');
  assert.notEqual(hidden.status, 0);
  assert.match(hidden.stderr, /HTTP 400\): no such table: `secret`. If the table exists, it may be marked private./);
  const write = run('sql', '--anonymous', 'store', "DELETE FROM thing WHERE code = 'abc'");
  assert.match(write.stderr, /HTTP 403\): identity [0-9a-f]{64} \(no role\) may not change rows of database `store`: that takes the developer role or above/);
  assert.match(ok(run('sql', 'store', 'SELECT COUNT(*) AS n FROM thing')), / 2\n/);
});

test('owner DML commits durably, is logged, and modules see it', () => {
  assert.match(ok(run('sql', 'store', "UPDATE thing SET rank = 50 WHERE code = 'abc'")), /0 inserted, 1 updated, 0 deleted/);
  assert.match(ok(run('sql', 'store', 'INSERT INTO secret (id, text) VALUES (2, \'from sql\')')), /1 inserted/);
  ok(run('call', 'store', 'find_code', 'abc'));
  ok(run('call', 'store', 'recall'));
  const logs = ok(run('logs', 'store'));
  assert.match(logs, /found abc id 1 rank 50/);
  assert.match(logs, /secrets: 1:private note,2:from sql/);
  assert.match(logs, /SQL by c200[0-9a-f]+: UPDATE thing SET rank = 50/);
});

test('errors are 400 with a message that points at the problem', async () => {
  const res = await fetch(`${host.url}/v1/database/store/sql`, { method: 'POST', body: 'SELECT * FORM thing' });
  assert.equal(res.status, 400);
  assert.equal(await res.text(), 'syntax error at position 10: expected FROM, found `FORM`');
  const unknown = run('sql', 'store', 'SELECT nope FROM thing');
  assert.match(unknown.stderr, /unknown column `nope` in table `thing`/);
});

test('the interactive prompt runs statements until .exit', () => {
  const r = cli(me, ['sql', 'store', '--interactive', '-s', host.url], {
    input: "SELECT code FROM thing WHERE id = 2\nSELECT nope FROM thing\n.exit\n",
  });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /store> [\s\S]* xyz\n\(1 row\)\nTime: [0-9.]+ ms/);
  assert.match(r.stderr, /unknown column `nope`/);
});

test('settings persist: row_limit survives a restart', async () => {
  ok(run('sql', 'store', 'SET row_limit = 1'));
  const address = host.url.replace('http://', '');
  await host.stop();
  host = await startHost(dataDir, address);
  assert.match(ok(run('sql', 'store', 'SHOW row_limit')), / 1\n/);
  assert.match(run('sql', 'store', 'SELECT * FROM thing').stderr, /more than row_limit \(1\)/);
  ok(run('sql', 'store', 'SET row_limit = 0'));
  assert.match(ok(run('sql', 'store', 'SELECT code FROM thing ORDER BY code')), /abc[\s\S]*xyz/);
});

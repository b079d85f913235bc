// Republishing migrates a database: one scenario per rule (applied, asked,
// refused), with the data kept and clients observed, through `orrery publish`
// as users run it. Module versions are written and built here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, connectClient, ok, orreryBin, removeDir, sdkBindings, startHost, subscribeTo, tempDir, waitUntil } from './harness.mjs';
import { execFileSync } from 'node:child_process';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dataDir, host, me;

const run = (args, options) => cli(me, [...args, '-s', host.url], options);
const sql = (db, query) => JSON.parse(ok(run(['sql', db, query, '--format', 'json'])))[0].rows;

// The first version: players (public) and private notes.
const playersV1 = `
const player = table({ public: true }, {
  id: t.u32().primaryKey(), name: t.string(), score: t.u32().index('btree'),
});
const note = table({}, { id: t.u32().primaryKey(), text: t.string() });
const spacetimedb = schema({ player, note });
export default spacetimedb;
export const add_player = spacetimedb.reducer({ id: t.u32(), name: t.string(), score: t.u32() },
  (ctx, row) => { ctx.db.player.insert(row); });
export const add_note = spacetimedb.reducer({ id: t.u32(), text: t.string() },
  (ctx, row) => { ctx.db.note.insert(row); });
export const player_count = spacetimedb.anonymousView({ name: 'player_count', public: true },
  t.array(t.object('PlayerCount', { n: t.u64() })), (ctx) => [{ n: ctx.db.player.count() }]);
`;

/** Builds a module from its source (after the imports) into a bundle; returns its path. */
function bundle(name, source) {
  const dir = path.join(root, 'build', 'migration-modules', name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'index.ts'),
    "import { schema, table, t } from 'spacetimedb/server';\n" + source);
  execFileSync(orreryBin, ['build', '-p', dir], { stdio: 'pipe' });
  return path.join(dir, 'dist', 'bundle.js');
}

/** A database of the first version with three players and a note. */
function seeded(db) {
  ok(run(['publish', db, '-j', bundle('players-v1', playersV1)]));
  ok(run(['call', db, 'add_player', '1', '"ada"', '30']));
  ok(run(['call', db, 'add_player', '2', '"bo"', '20']));
  ok(run(['call', db, 'add_player', '3', '"cy"', '20']));
  ok(run(['call', db, 'add_note', '1', '"keep me"']));
}

before(async () => {
  dataDir = tempDir('migrations');
  me = tempDir('migrations-me');
  host = await startHost(dataDir);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

test('safe changes apply without asking; clients stay connected and subscribed', async (t) => {
  seeded('safe');
  const bindings = await sdkBindings('players-v1', ['-j', bundle('players-v1', playersV1)]);
  const { conn } = await connectClient(t, bindings, host.url, 'safe');
  // Over two lines: the whole query is planned again after the migration.
  await subscribeTo(conn, ['SELECT *\nFROM player', 'SELECT * FROM player_count']);
  let disconnected = false;
  conn.onDisconnect(() => { disconnected = true; });  // the connection's own (TypeScript-private) listener

  const safe = bundle('players-safe', playersV1
    .replace("name: t.string(),", "name: t.string().index('btree'),")            // an index
    .replace("const note = table({},", "const note = table({ public: true },")   // private → public
    .replace('schema({ player, note })', 'schema({ player, note, team })')
    .replace('const spacetimedb', "const team = table({ public: true }, { id: t.u32().primaryKey().autoInc(), name: t.string() });\nconst spacetimedb")
    + `export const add_team = spacetimedb.reducer({ name: t.string() }, (ctx, { name }) => { ctx.db.team.insert({ id: 0, name }); });\n`);
  const out = ok(run(['publish', 'safe', '-j', safe]));  // no question asked: stdin is empty
  assert.match(out, /Created table `team`/);
  assert.match(out, /Created index `player_name_idx_btree`/);
  assert.match(out, /Changed access for table `note` \(private → public\)/);
  assert.match(out, /Added reducer `add_team`/);
  assert.match(out, /Updated database/);

  assert.deepEqual(sql('safe', 'SELECT id, name FROM player ORDER BY id').map((r) => r[1]), ['ada', 'bo', 'cy']);
  assert.deepEqual(JSON.parse(ok(run(['sql', 'safe', 'SELECT * FROM note', '--anonymous', '--format', 'json'])))[0].rows,
    [[1, 'keep me']], 'the note is public now');
  ok(run(['call', 'safe', 'add_team', '"reds"']));
  // The client kept its subscription, planned again over the rebuilt table.
  ok(run(['call', 'safe', 'add_player', '4', '"di"', '10']));
  await waitUntil(() => conn.db.player.count() === 4n, 'the subscriber to hear of the new player');
  // The view over the rebuilt table follows too.
  await waitUntil(() => [...conn.db.playerCount.iter()].some((r) => r.n === 4n), 'the view to count the new player');
  assert.equal(disconnected, false);
});

test('a change that breaks clients is asked about; refused, nothing changes; accepted, rows are backfilled and clients disconnected', async (t) => {
  seeded('breaking');
  const bindings = await sdkBindings('players-v1', ['-j', bundle('players-v1', playersV1)]);
  const { conn } = await connectClient(t, bindings, host.url, 'breaking');
  await subscribeTo(conn, ['SELECT * FROM player']);
  let disconnected = false;
  conn.onDisconnect(() => { disconnected = true; });  // the connection's own (TypeScript-private) listener

  const withLevel = bundle('players-level', playersV1.replace("score: t.u32().index('btree'),",
    "score: t.u32().index('btree'), level: t.u32().default(1),"));
  const declined = run(['publish', 'breaking', '-j', withLevel], { input: 'n\n' });
  assert.notEqual(declined.status, 0);
  assert.match(declined.stdout, /Added column `level`: U32 to table `player` \(existing rows get 1\)/);
  assert.match(declined.stdout, /will BREAK existing clients/);
  assert.match(declined.stderr, /aborted/);
  assert.equal(sql('breaking', 'SELECT * FROM player WHERE id = 1')[0].length, 3, 'no column was added');

  const accepted = ok(run(['publish', 'breaking', '-j', withLevel, '--break-clients']));
  assert.match(accepted, /Updated database/);
  assert.deepEqual(sql('breaking', 'SELECT id, level FROM player ORDER BY id'), [[1, 1], [2, 1], [3, 1]]);
  await waitUntil(() => disconnected, 'the client to be disconnected');
});

test('forbidden changes are refused naming each one, and the data stays', async () => {
  seeded('forbidden');
  const forbidden = bundle('players-forbidden', playersV1
    .replace("name: t.string(), score: t.u32().index('btree'),", "name: t.u64(), score: t.u32().index('btree'), rank: t.u32(),")
    .replace('schema({ player, note })', 'schema({ player })'));
  const planned = run(['publish', 'forbidden', '-j', forbidden, '--dry-run']);
  assert.notEqual(planned.status, 0, 'a refused plan fails the dry run');
  const dry = planned.stdout;
  assert.match(dry, /✗ Changing the type of column `name` of table `player` from String to U64/);
  assert.match(dry, /✗ Adding column `rank` to table `player` requires a default value/);
  assert.match(dry, /✗ Removing table `note`, which holds 1 rows/);
  const renamed = bundle('players-renamed', playersV1.replace('score: t.u32()', 'points: t.u32()'));
  assert.match(run(['publish', 'forbidden', '-j', renamed, '--dry-run']).stdout, /✗ Removing \(or renaming\) column `score`/);
  const refused = run(['publish', 'forbidden', '-j', forbidden, '-y']);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /needs the data cleared/);
  assert.equal(sql('forbidden', 'SELECT COUNT(*) AS n FROM player')[0][0], 3);
  assert.equal(sql('forbidden', 'SELECT COUNT(*) AS n FROM note')[0][0], 1);

  // With --delete-data=on-conflict the data goes, and the new module starts empty.
  ok(run(['publish', 'forbidden', '-j', forbidden, '--delete-data=on-conflict', '-y']));
  assert.equal(sql('forbidden', 'SELECT COUNT(*) AS n FROM player')[0][0], 0);
});

test('a unique constraint is added once the rows allow it; an emptied table goes as a breaking step', async () => {
  seeded('unique');
  const unique = bundle('players-unique', playersV1.replace("score: t.u32().index('btree'),", 'score: t.u32().unique(),'));
  const refused = run(['publish', 'unique', '-j', unique, '-y']);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stdout, /rows share \[score\] = \[20\]/);
  ok(run(['sql', 'unique', 'UPDATE player SET score = 25 WHERE id = 3']));
  ok(run(['publish', 'unique', '-j', unique, '-y']));
  const duplicate = run(['call', 'unique', 'add_player', '9', '"ed"', '25']);
  assert.notEqual(duplicate.status, 0, 'the constraint holds');

  const withoutNote = bundle('players-no-note', playersV1.replace('schema({ player, note })', 'schema({ player })')
    .replace(/export const add_note[^;]*;\s*[^;]*;\s*\}\);/s, ''));
  assert.match(run(['publish', 'unique', '-j', withoutNote, '-y']).stdout, /Removing table `note`, which holds 1 rows/);
  ok(run(['sql', 'unique', 'DELETE FROM note']));
  const removed = ok(run(['publish', 'unique', '-j', withoutNote, '--break-clients']));
  assert.match(removed, /Removed empty table `note`/);
});

test('the plan is the same over HTTP, and a breaking publish without the policy is refused', async () => {
  const token = JSON.parse(await (await fetch(`${host.url}/v1/identity`, { method: 'POST' })).text()).token;
  const auth = { authorization: `Bearer ${token}` };
  const publish = (query, file) => fetch(`${host.url}/v1/database/http-plan${query}`,
    { method: 'PUT', body: readFileSync(file), headers: auth });
  assert.equal((await publish('', bundle('players-v1', playersV1))).status, 200);
  const withLevel = bundle('players-level', playersV1.replace("score: t.u32().index('btree'),",
    "score: t.u32().index('btree'), level: t.u32().default(1),"));
  const planned = await fetch(`${host.url}/v1/database/http-plan/pre_publish`,
    { method: 'POST', body: readFileSync(withLevel), headers: auth });
  assert.equal(planned.status, 200);
  const plan = (await planned.json()).AutoMigrate;
  assert.equal(plan.break_clients, true);
  assert.deepEqual(plan.steps, [{ kind: 'breaking', text: 'Added column `level`: U32 to table `player` (existing rows get 1)' }]);
  assert.match(plan.migrate_plan, /Database migration plan/);
  const refused = await publish('', withLevel);
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /breaks clients/);
  assert.equal((await publish('?policy=BreakClients', withLevel)).status, 200);
  // A stranger may not see the plan.
  const stranger = JSON.parse(await (await fetch(`${host.url}/v1/identity`, { method: 'POST' })).text()).token;
  const theirs = await fetch(`${host.url}/v1/database/http-plan/pre_publish`,
    { method: 'POST', body: readFileSync(withLevel), headers: { authorization: `Bearer ${stranger}` } });
  assert.equal(theirs.status, 403);
});

test('the incremental pattern: a player_v2 table filled lazily while old clients keep working', async (t) => {
  const v1 = playersV1 + `export const set_score = spacetimedb.reducer({ id: t.u32(), score: t.u32() }, (ctx, { id, score }) => {
  const p = ctx.db.player.id.find(id);
  if (p) ctx.db.player.id.update({ ...p, score });
});
`;
  ok(run(['publish', 'lazy', '-j', bundle('lazy-v1', v1)]));
  ok(run(['call', 'lazy', 'add_player', '1', '"ada"', '30']));
  ok(run(['call', 'lazy', 'add_player', '2', '"bo"', '20']));
  const old = await sdkBindings('lazy-v1', ['-j', bundle('lazy-v1', v1)]);
  const { conn } = await connectClient(t, old, host.url, 'lazy');
  await subscribeTo(conn, ['SELECT * FROM player']);

  // Version 2 never alters player: it adds player_v2, fills it on first use, and writes both.
  const v2 = v1.replace('schema({ player, note })', 'schema({ player, note, player_v2 })')
    .replace('const spacetimedb', `const player_v2 = table({ public: true }, {
  id: t.u32().primaryKey(), name: t.string(), score: t.u32(), level: t.u32(),
});
const spacetimedb`)
    .replace(/export const set_score[\s\S]*$/, `function upgraded(ctx, id) {
  const migrated = ctx.db.player_v2.id.find(id);
  if (migrated) return migrated;
  const p = ctx.db.player.id.find(id);
  return p ? ctx.db.player_v2.insert({ ...p, level: 1 }) : undefined;
}
export const set_score = spacetimedb.reducer({ id: t.u32(), score: t.u32() }, (ctx, { id, score }) => {
  const p = upgraded(ctx, id);
  if (!p) return;
  ctx.db.player_v2.id.update({ ...p, score });
  ctx.db.player.id.update({ id, name: p.name, score });  // old clients read player
});
export const level_up = spacetimedb.reducer({ id: t.u32() }, (ctx, { id }) => {
  const p = upgraded(ctx, id);
  if (p) ctx.db.player_v2.id.update({ ...p, level: p.level + 1 });
});
`);
  const out = ok(run(['publish', 'lazy', '-j', bundle('lazy-v2', v2)]));
  assert.match(out, /Created table `player_v2`/);
  assert.doesNotMatch(out, /BREAK/);
  assert.equal(sql('lazy', 'SELECT COUNT(*) AS n FROM player_v2')[0][0], 0, 'nothing is copied up front');

  ok(run(['call', 'lazy', 'level_up', '1']));
  assert.deepEqual(sql('lazy', 'SELECT id, level FROM player_v2'), [[1, 2]]);
  ok(run(['call', 'lazy', 'set_score', '2', '99']));
  assert.deepEqual(sql('lazy', 'SELECT id, score, level FROM player_v2 WHERE id = 2'), [[2, 99, 1]]);
  // The old client, with its old bindings, still hears player change.
  await waitUntil(() => conn.db.player.id.find(2)?.score === 99, 'the old client to see the new score');
  await conn.reducers.addPlayer({ id: 3, name: 'cy', score: 5 });
  assert.equal(sql('lazy', 'SELECT COUNT(*) AS n FROM player')[0][0], 3);
});

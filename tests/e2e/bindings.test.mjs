// Client bindings from `orrery generate`: the reference generator's layout,
// an application laid out like the public chat-react-ts template type-checks
// against them (tsc, strict), and the SDK's typed query builder subscribes
// with canonical (snake_case) column names. Real `spacetimedb` 2.10.1 SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import { cli, orreryBin, removeDir, sdkBindings, startHost, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global
setGlobalLogLevel('warn');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
let dataDir, host, me;

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('bindings');
  me = tempDir('bindings-me');
  host = await startHost(dataDir);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

// An application under the repository (so that `spacetimedb` and `typescript`
// resolve from its node_modules) with the template's layout: src/module_bindings.
function appDir(name) {
  const dir = path.join(root, 'build', 'bindings-test', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  return dir;
}

const strictConfig = {
  compilerOptions: {
    target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'],
    strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true,
    noUnusedLocals: true, noUnusedParameters: true, noFallthroughCasesInSwitch: true, erasableSyntaxOnly: true,
  },
  include: ['src'],
};

test('the chat bindings have the reference layout and an app importing them type-checks', () => {
  const dir = appDir('chat');
  const out = path.join(dir, 'src', 'module_bindings');
  execFileSync(orreryBin, ['generate', '--lang', 'typescript', '--out-dir', out, '-j', path.join(bundles, 'chat.js')]);
  for (const file of ['index.ts', 'user_table.ts', 'message_table.ts', 'send_message_reducer.ts', 'set_name_reducer.ts',
    'types.ts', 'types/reducers.ts', 'types/procedures.ts']) {
    assert.ok(existsSync(path.join(out, file)), `${file} is generated`);
  }
  const types = readFileSync(path.join(out, 'types.ts'), 'utf8');
  assert.match(types, /export const Message = __t\.object\("Message", \{/);
  assert.match(types, /export type User = __Infer<typeof User>;/);
  assert.match(readFileSync(path.join(out, 'types/reducers.ts'), 'utf8'),
    /export type SendMessageParams = __Infer<typeof SendMessageReducer>;/);

  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(strictConfig, null, 2));
  // The imports and uses of the template's main.tsx and App.tsx, without React.
  writeFileSync(path.join(dir, 'src', 'App.ts'), `
import { DbConnection, type ErrorContext } from './module_bindings/index.ts';
import { tables, reducers } from './module_bindings';
import type * as Types from './module_bindings/types';

export function latest(messages: readonly Types.Message[]): Types.Message | undefined {
  return [...messages].sort((a, b) => (a.sent.toDate() < b.sent.toDate() ? -1 : 1)).at(-1);
}

export function connect(onError: (ctx: ErrorContext, e: Error) => void) {
  return DbConnection.builder()
    .withUri('ws://127.0.0.1:3000')
    .withDatabaseName('chat')
    .onConnect((conn, identity) => {
      conn.subscriptionBuilder().subscribe([
        tables.message,
        tables.user.where(r => r.online.eq(true)),
      ]);
      for (const user of conn.db.user.iter()) if (user.identity.isEqual(identity)) console.log(user.name ?? 'anonymous');
      void conn.reducers.sendMessage({ text: 'hello' });
    })
    .onConnectError(onError)
    .build();
}

export const accessors = [reducers.setName, reducers.sendMessage];
`);
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);

  // A table the module no longer has: its file goes on the next generation.
  writeFileSync(path.join(out, 'gone_table.ts'), readFileSync(path.join(out, 'user_table.ts')));
  writeFileSync(path.join(out, 'mine.ts'), 'export const mine = 1;\n');
  execFileSync(orreryBin, ['generate', '--lang', 'typescript', '--out-dir', out, '-j', path.join(bundles, 'chat.js')]);
  assert.ok(!existsSync(path.join(out, 'gone_table.ts')), 'a stale generated file is removed');
  assert.ok(existsSync(path.join(out, 'mine.ts')), 'a file the generator did not write stays');
  rmSync(dir, { recursive: true, force: true });
});

test('columns have canonical names in SQL, the schema and the typed query builder', async (t) => {
  const args = ['-j', path.join(bundles, 'library.js')];
  ok(run('publish', 'library', ...args));
  const schema = JSON.parse(ok(run('describe', '--json', 'library')));
  const book = schema.typespace.types[schema.tables.find((x) => x.name === 'book').product_type_ref];
  assert.deepEqual(book.Product.elements.map((e) => e.name.some), ['id', 'author_id', 'title']);

  // Version 10 answers the sections of RawModuleDefV10, names as the reference keeps them.
  const v10 = await (await fetch(`${host.url}/v1/database/library/schema?version=10`)).json();
  const section = (name) => v10.sections.find((s) => name in s)?.[name];
  assert.deepEqual(v10.sections.map((s) => Object.keys(s)[0]), ['Typespace', 'Types', 'Tables', 'Reducers', 'ExplicitNames']);
  const bookDef = section('Tables').find((x) => x.source_name === 'book');
  assert.deepEqual(section('Typespace').types[bookDef.product_type_ref].Product.elements.map((e) => e.name.some),
    ['id', 'author_id', 'title']);
  assert.deepEqual(bookDef.primary_key, [0]);
  assert.deepEqual(bookDef.table_access, { Public: [] });
  assert.ok(bookDef.indexes.some((ix) => ix.accessor_name.some === 'authorId' && 'BTree' in ix.algorithm));
  const audit = section('Tables').find((x) => x.source_name === 'audit');
  assert.equal(audit.sequences[0].source_name.some, 'audit_id_seq');
  assert.deepEqual(audit.table_access, { Private: [] });
  const addBook = section('Reducers').find((r) => r.source_name === 'add_book');
  assert.deepEqual(addBook.params.elements.map((e) => e.name.some), ['id', 'authorId', 'title']);
  assert.deepEqual(addBook.visibility, { ClientCallable: [] });
  assert.ok(section('ExplicitNames').entries.some((e) => e.Table?.canonical_name === 'book'));
  const v9 = await (await fetch(`${host.url}/v1/database/library/schema?version=9`)).json();
  assert.ok(Array.isArray(v9.tables) && !('sections' in v9));

  ok(run('call', 'library', 'add_author', '1', '"Le Guin"'));
  ok(run('call', 'library', 'add_book', '10', '1', '"Earthsea"'));
  ok(run('call', 'library', 'add_book', '11', '2', '"Solaris"'));
  assert.match(ok(run('sql', 'library', 'SELECT title FROM book WHERE author_id = 1')), /Earthsea/);
  // The source name stays an alias, as in the reference.
  assert.match(ok(run('sql', 'library', 'SELECT title FROM book WHERE authorId = 1')), /Earthsea/);
  const json = JSON.parse(ok(run('sql', 'library', 'SELECT authorId FROM book WHERE id = 10', '--format', 'json')));
  assert.deepEqual(json[0].rows, [[1]]);

  // The bindings key the field `authorId` and name the column `author_id`.
  const library = await sdkBindings('library-canonical', args);
  const conn = await new Promise((resolve, reject) => {
    library.DbConnection.builder().withUri(host.url).withDatabaseName('library')
      .onConnect((c) => resolve(c)).onConnectError((_ctx, e) => reject(e)).build();
  });
  t.after(() => conn.disconnect());
  await new Promise((resolve, reject) => {
    conn.subscriptionBuilder().onApplied(resolve).onError((_ctx, e) => reject(e ?? new Error('subscription failed')))
      .subscribe([library.tables.book.where((r) => r.authorId.eq(1))]);
  });
  assert.deepEqual([...conn.db.book.iter()].map((b) => `${b.title} by ${b.authorId}`), ['Earthsea by 1']);
  await conn.reducers.addBook({ id: 12, authorId: 1, title: 'Tehanu' });
  await waitUntil(() => conn.db.book.count() === 2n, 'the subscriber to see Tehanu');
});

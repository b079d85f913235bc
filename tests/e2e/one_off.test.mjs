// One-off queries over the v2 BSATN protocol, as a client without the SDK
// sends them: whole rows, projections, COUNT, and refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { WebSocket } from 'undici';
import { BinaryReader, BinaryWriter } from 'spacetimedb';
import { cli, ok, removeDir, startHost, tempDir } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;

const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('one-off');
  me = tempDir('one-off-me');
  host = await startHost(dataDir);
  ok(run('publish', 'library', '-j', path.join(bundles, 'library.js')));
  ok(run('call', 'library', 'add_author', '1', '"Le Guin"'));
  ok(run('call', 'library', 'add_book', '10', '1', '"Earthsea"'));
  ok(run('call', 'library', 'add_book', '11', '2', '"Solaris"'));
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

/** Sends one OneOffQuery on a fresh anonymous connection and decodes its result. */
async function oneOff(query) {
  const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/library/subscribe?compression=None`,
    ['v2.bsatn.spacetimedb']);
  ws.binaryType = 'arraybuffer';
  try {
    const answer = new Promise((resolve, reject) => {
      ws.addEventListener('message', (e) => {
        const bytes = new Uint8Array(e.data);
        assert.equal(bytes[0], 0, 'uncompressed frame');
        const r = new BinaryReader(bytes.subarray(1));
        if (r.readU8() !== 5) return;  // not a OneOffQueryResult
        assert.equal(r.readU32(), 7, 'the request id comes back');
        if (r.readU8() === 1) return resolve({ error: r.readString() });
        const tables = [];
        for (let n = r.readU32(); n > 0; --n) {
          const table = r.readString();
          assert.equal(r.readU8(), 1, 'rows come with offsets');
          const offsets = Array.from({ length: r.readU32() }, () => Number(r.readU64()));
          const data = r.readUInt8Array();
          const rows = offsets.map((at, i) => data.subarray(at, i + 1 < offsets.length ? offsets[i + 1] : data.length));
          tables.push({ table, rows });
        }
        resolve({ tables });
      });
      ws.addEventListener('error', () => reject(new Error('the WebSocket failed')), { once: true });
    });
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    const w = new BinaryWriter(64);
    w.writeU8(2);
    w.writeU32(7);
    w.writeString(query);
    ws.send(w.getBuffer());
    return await answer;
  } finally {
    ws.close();
  }
}

test('a one-off query returns whole rows', async () => {
  const { tables } = await oneOff('SELECT * FROM book WHERE author_id = 1');
  assert.equal(tables.length, 1);
  assert.equal(tables[0].table, 'book');
  assert.equal(tables[0].rows.length, 1);
  const r = new BinaryReader(tables[0].rows[0]);
  assert.deepEqual([r.readU32(), r.readU32(), r.readString()], [10, 1, 'Earthsea']);
});

test('a one-off query with a projection returns the selected columns', async () => {
  const { tables } = await oneOff('SELECT title FROM book ORDER BY id DESC');
  assert.equal(tables[0].table, 'book');
  assert.deepEqual(tables[0].rows.map((row) => new BinaryReader(row).readString()), ['Solaris', 'Earthsea']);
  // The module's source name for a column works as an alias, as in SQL.
  const byAuthor = await oneOff('SELECT title, authorId FROM book WHERE authorId = 2');
  const r = new BinaryReader(byAuthor.tables[0].rows[0]);
  assert.deepEqual([r.readString(), r.readU32()], ['Solaris', 2]);
});

test('a one-off COUNT returns one row with the count', async () => {
  const { tables } = await oneOff('SELECT COUNT(*) AS n FROM book');
  assert.equal(tables[0].rows.length, 1);
  assert.equal(new BinaryReader(tables[0].rows[0]).readU64(), 2n);
});

test('a one-off query does not write, nor read what its caller may not', async () => {
  const write = await oneOff('DELETE FROM book');
  assert.match(write.error, /only reads/);
  const hidden = await oneOff('SELECT note FROM audit');
  assert.match(hidden.error, /no such table: `audit`/);
  assert.match(ok(run('sql', 'library', 'SELECT COUNT(*) AS n FROM book')), /2/);
});

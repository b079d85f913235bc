// Round trip of a reducer call, from sending it to the caller hearing its
// outcome, per client protocol and module line: v2 BSATN (what the SDK speaks)
// and v1 JSON, against the chat module built with spacetimedb 2.x (V10) and
// with 1.x (V9). One client, sequential calls; prints p50 and p99 of each.
// Every client asks for confirmed reads (v1's default is not to), so each
// reply waits for its commit to be durable.
// `make bench` runs it.
import { BinaryReader, BinaryWriter } from 'spacetimedb';
import { WebSocket } from 'undici';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, removeDir, startHost, tempDir } from '../e2e/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const calls = Number(process.argv[2] ?? 2000);
const dataDir = tempDir('pl'), me = tempDir('pl-me');
const host = await startHost(dataDir);
cli(me, ['publish', 'chat', '-j', path.join(bundles, 'chat.js'), '-s', host.url]);
cli(me, ['publish', 'v9chat', '-j', path.join(bundles, 'v9-chat.js'), '-s', host.url]);

async function open(database, protocol) {
  const ws = new WebSocket(`${host.url.replace('http', 'ws')}/v1/database/${database}/subscribe?compression=None&confirmed=true`,
    [protocol]);
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  return ws;
}

/** Sequential calls; `send(i)` sends call i, `done(message)` gives the id of a call it completes. */
async function measure(ws, send, done) {
  const times = [];
  let waiting = null;
  ws.addEventListener('message', (e) => {
    const id = done(e.data);
    if (waiting && id === waiting.id) waiting.resolve();
  });
  for (let i = 1; i <= calls; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => { waiting = { id: i, resolve }; send(i); });
    times.push(performance.now() - t0);
  }
  ws.close();
  return times;
}

function v2(ws, reducer) {
  return measure(ws, (i) => {
    const args = new BinaryWriter(32);
    args.writeString(`message ${i}`);
    const w = new BinaryWriter(64);
    w.writeU8(3); w.writeU32(i); w.writeU8(0); w.writeString(reducer); w.writeUInt8Array(args.getBuffer());
    ws.send(w.getBuffer());
  }, (data) => {
    const bytes = new Uint8Array(data);
    if (bytes[0] !== 0 || bytes[1] !== 6) return -1;  // uncompressed ReducerResult
    return new BinaryReader(bytes.subarray(2)).readU32();
  });
}

function v1(ws, reducer) {
  return measure(ws, (i) => {
    ws.send(JSON.stringify({ CallReducer: { reducer, args: JSON.stringify([`message ${i}`]), request_id: i, flags: 0 } }));
  }, (data) => {
    const m = JSON.parse(data);
    return m.TransactionUpdate ? m.TransactionUpdate.reducer_call.request_id : -1;
  });
}

const runs = [
  ['v2 BSATN, 2.x module (V10)', await v2(await open('chat', 'v2.bsatn.spacetimedb'), 'send_message')],
  ['v1 JSON,  2.x module (V10)', await v1(await open('chat', 'v1.json.spacetimedb'), 'send_message')],
  ['v2 BSATN, 1.x module (V9) ', await v2(await open('v9chat', 'v2.bsatn.spacetimedb'), 'sendMessage')],
  ['v1 JSON,  1.x module (V9) ', await v1(await open('v9chat', 'v1.json.spacetimedb'), 'sendMessage')],
];
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))].toFixed(2); };
console.log(`reducer call round trip, ${calls} sequential calls (CPU: ${os.cpus()[0]?.model}, ${os.cpus().length} cores)`);
for (const [what, times] of runs) console.log(`${what}: p50 ${pct(times, 0.5)} ms p99 ${pct(times, 0.99)} ms`);
await host.stop();
removeDir(dataDir); removeDir(me);
process.exit(0);

// Connection churn: waves of SDK clients connect to the chat database,
// subscribe to its messages and go away, some at once, some after their initial
// rows, while a writer keeps sending messages. The host keeps serving, every
// client that waited got every row committed before it connected, and the
// host's resident memory returns near where it started. Real `spacetimedb`
// 2.10.1 SDK against a real `orrery start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import { cli, removeDir, sdkBindings, startHost, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global
// The SDK logs each connection to stdout, which the test runner also reads.
setGlobalLogLevel('warn');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const WAVES = 3;
const CLIENTS_PER_WAVE = 200;   // a third leave after their initial rows, the rest at once
const SEEDED = 300;            // messages before the first wave
const MEMORY_SLACK_MB = 100;
// A sanitizer build keeps freed memory in quarantine: its figures are printed, not bounded.
const sanitized = process.env.ORRERY_SANITIZED === '1';
let dataDir, host, hostPid, me, chat;

/** The `orrery start` this test started: our child, serving `dataDir`. */
function findHostPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (ppid === process.pid && args.includes('start') && args.includes(dataDir)) return Number(entry);
    } catch { /* gone meanwhile */ }
  }
  throw new Error('cannot find the host process');
}

/** The host's state letter from /proc, or null once it is gone. */
function hostState() {
  try {
    const stat = readFileSync(`/proc/${hostPid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

function rssMb() {
  const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)[1]) / 1024;
}

before(async () => {
  dataDir = tempDir('churn');
  me = tempDir('churn-me');
  host = await startHost(dataDir);
  hostPid = findHostPid();
  const bundle = path.join(bundles, 'chat.js');
  const moduleArgs = existsSync(bundle) ? ['-j', bundle] : ['-p', path.join(root, 'examples/chat')];
  const r = cli(me, ['publish', 'churn', ...moduleArgs, '-s', host.url]);
  assert.equal(r.status, 0, r.stderr);
  chat = await sdkBindings('churn-chat', moduleArgs);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

function within(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

function connect({ onConnect } = {}) {
  return new Promise((resolve, reject) => {
    chat.DbConnection.builder().withUri(host.url).withDatabaseName('churn')
      .onConnect((conn, identity) => {
        onConnect?.(conn);
        resolve({ conn, identity });
      })
      .onConnectError((_ctx, e) => reject(e ?? new Error('connection failed')))
      .build();
  });
}

async function ping() {
  return (await fetch(`${host.url}/v1/ping`, { signal: AbortSignal.timeout(5000) })).status;
}

async function onlineUsers() {
  const res = await fetch(`${host.url}/v1/database/churn/sql`,
    { method: 'POST', body: 'SELECT COUNT(*) AS n FROM user WHERE online = true', signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return Number((await res.json())[0].rows[0][0]);
}

function assertHostUp(what) {
  const state = hostState();
  assert.ok(state !== null && state !== 'Z', `the host process is gone after ${what}`);
}

test('waves of clients come and go while a writer commits; the host serves on and gives its memory back', async (t) => {
  const writer = await connect();
  const seeded = [];
  // About 1 KB each and hardly compressible: every initial update is some 400 KB
  // the host builds, so memory kept per connection would show.
  for (let i = 0; i < SEEDED; i++) seeded.push(`seed ${i} ${randomBytes(768).toString('base64')}`);
  await Promise.all(seeded.map((text) => writer.conn.reducers.sendMessage({ text })));
  assert.equal(await onlineUsers(), 1);

  const baseline = rssMb();
  let peak = baseline;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssMb()); } catch { /* gone */ } }, 100);

  // The writer commits one message after another until the waves are over;
  // `written` holds the messages whose commit it has seen confirmed.
  const written = [];
  let writing = true;
  let writerError = null;
  const writerLoop = (async () => {
    for (let n = 0; writing; n++) {
      const text = `written ${n}`;
      try {
        await writer.conn.reducers.sendMessage({ text });
      } catch (e) {
        writerError = e;
        return;
      }
      written.push(text);
    }
  })();

  const figures = [];
  try {
    for (let wave = 1; wave <= WAVES; wave++) {
      const started = Date.now();
      const hasty = [];     // leave right after connecting, each on its own
      const together = [];  // leave all at once as soon as the last of them has connected
      const patient = [];   // leave all at once after their initial rows
      for (let i = 0; i < CLIENTS_PER_WAVE; i++) {
        if (i % 3 === 0) {
          // Subscribes and leaves in the same breath, the subscription still in flight.
          hasty.push(connect({
            onConnect: (conn) => {
              conn.subscriptionBuilder().subscribe(['SELECT * FROM message']);
              conn.disconnect();
            },
          }));
        } else if (i % 3 === 1) {
          together.push(connect({
            onConnect: (conn) => conn.subscriptionBuilder().subscribe(['SELECT * FROM message']),
          }));
        } else {
          // Must find in its initial rows every message committed before it connected.
          const mustSee = [...seeded, ...written];
          patient.push(connect().then(({ conn }) => new Promise((resolve, reject) => {
            conn.subscriptionBuilder()
              .onApplied(() => resolve({ conn, mustSee, texts: [...conn.db.message.iter()].map((m) => m.text) }))
              .onError((_ctx, e) => reject(e ?? new Error('subscription failed')))
              .subscribe(['SELECT * FROM message']);
          })));
        }
      }
      const connected = await within(Promise.allSettled([...hasty, ...together]), 60000, `the clients of wave ${wave} to connect`);
      for (const r of connected.slice(hasty.length)) if (r.status === 'fulfilled') r.value.conn.disconnect();
      const refused = connected.filter((r) => r.status === 'rejected');
      assert.equal(refused.length, 0, `wave ${wave}: ${refused.length} clients could not connect: ${refused[0]?.reason}`);

      const applied = await within(Promise.allSettled(patient), 60000, `the initial rows of wave ${wave}`);
      const failed = applied.filter((r) => r.status === 'rejected');
      assert.equal(failed.length, 0, `wave ${wave}: ${failed.length} clients got no initial rows: ${failed[0]?.reason}`);
      for (const { value: { texts, mustSee } } of applied) {
        const have = new Set(texts);
        assert.equal(have.size, texts.length, `wave ${wave}: a client holds a message twice`);
        const missing = mustSee.filter((t) => !have.has(t));
        assert.deepEqual(missing.slice(0, 5), [], `wave ${wave}: a client's initial rows lack ${missing.length} of ${mustSee.length} messages`);
      }
      // The patient clients leave together.
      for (const { value: { conn } } of applied) conn.disconnect();

      assertHostUp(`wave ${wave}`);
      assert.equal(await ping(), 200, `ping after wave ${wave}`);
      // Every client of the wave has been seen out: only the writer is online.
      await waitUntil(async () => await onlineUsers() === 1, `the clients of wave ${wave} to be disconnected`, 15000, 100);
      assert.equal(writerError, null, `the writer's call failed: ${writerError}`);
      figures.push({ wave, ms: Date.now() - started, rssMb: Math.round(rssMb()), written: written.length });
    }
  } finally {
    writing = false;
    await writerLoop;
    clearInterval(sampler);
  }
  assert.equal(writerError, null, `the writer's call failed: ${writerError}`);
  assert.ok(written.length > 0, 'the writer committed while the waves came and went');

  writer.conn.disconnect();
  await waitUntil(async () => await onlineUsers() === 0, 'the writer to be disconnected', 10000, 100);
  assertHostUp('the waves');

  // Settle: memory the connections held goes back; wait for it, within a bound.
  const limit = baseline + MEMORY_SLACK_MB;
  let settled = rssMb();
  try {
    if (!sanitized) await waitUntil(() => (settled = rssMb()) <= limit, 'resident memory to return near its baseline', 20000, 250);
  } catch { /* reported below with the figures */ }
  const summary = `host VmRSS: baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, ` +
    `after settling ${settled.toFixed(1)} MB (bound ${limit.toFixed(1)} MB); ` +
    `waves ${JSON.stringify(figures)}; messages written during the waves: ${written.length}`;
  t.diagnostic(summary);
  if (!sanitized) assert.ok(settled <= limit, summary);

  // And the host still serves a new client with every message.
  const last = await connect();
  await new Promise((resolve, reject) => last.conn.subscriptionBuilder().onApplied(resolve)
    .onError((_ctx, e) => reject(e)).subscribe(['SELECT * FROM message']));
  assert.equal([...last.conn.db.message.iter()].length, SEEDED + written.length);
  last.conn.disconnect();
  assert.equal(await ping(), 200);
});

// GET /metrics, parsed as Prometheus parses its text format, and the
// per-database figures the console reads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, connectClient, removeDir, sdkBindings, startHost, subscribeTo, tempDir, waitUntil } from './harness.mjs';

const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.resolve('build/bundles');
let dataDir, host, me;
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  dataDir = tempDir('metrics');
  me = tempDir('metrics-me');
  host = await startHost(dataDir);
  assert.equal(run('publish', 'chat', '-j', path.join(bundles, 'chat.js')).status, 0);
});

after(async () => {
  await host?.stop();
  removeDir(dataDir);
  removeDir(me);
});

/** The Prometheus text exposition format (0.0.4): families with HELP and TYPE, then their samples. */
function parsePrometheus(text) {
  const families = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/))) {
      assert.ok(!families.has(m[1]), `family ${m[1]} appears twice`);
      current = { name: m[1], help: m[2], type: null, samples: [] };
      families.set(m[1], current);
      continue;
    }
    if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      assert.equal(m[1], current?.name, `TYPE of ${m[1]} follows its HELP`);
      current.type = m[2];
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `not a sample line: ${line}`);
    const [, name, labelText = '', value] = m;
    const base = current.type === 'histogram' ? name.replace(/_(bucket|sum|count)$/, '') : name;
    assert.equal(base, current.name, `sample ${name} belongs to the family before it`);
    const labels = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let at = 0;
    while (at < labelText.length) {
      labelRe.lastIndex = at;
      const l = labelRe.exec(labelText);
      assert.ok(l, `bad labels: ${labelText}`);
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));  // \\, \" and \n
      at = labelRe.lastIndex;
    }
    const number = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
    assert.ok(value === 'NaN' || !Number.isNaN(number), `bad value: ${value}`);
    current.samples.push({ name, labels, value: number });
  }
  for (const f of families.values()) assert.ok(f.type, `family ${f.name} has a TYPE`);
  return families;
}

const sample = (families, family, name, labels) => families.get(family).samples
  .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

test('/metrics counts calls by outcome, durations, commits, clients and subscriptions, per database', async (t) => {
  assert.equal(run('call', 'chat', 'send_message', '"one"').status, 0);
  assert.equal(run('call', 'chat', 'send_message', '"two"').status, 0);
  assert.notEqual(run('call', 'chat', 'send_message', '""').status, 0);  // a SenderError
  const bindings = await sdkBindings('chat-metrics', ['-j', path.join(bundles, 'chat.js')]);
  const { conn } = await connectClient(t, bindings, host.url, 'chat');
  await subscribeTo(conn, ['SELECT * FROM message', 'SELECT * FROM user']);

  const chat = { database: 'chat' };
  const scrape = async () => {
    const res = await fetch(`${host.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };
  // The gauges follow the client's connection and subscriptions as the database handles them.
  const families = await waitUntil(async () => {
    const f = await scrape();
    return sample(f, 'orrery_subscribed_queries', 'orrery_subscribed_queries', chat) === 2 ? f : null;
  }, 'the subscriptions to be counted');
  // Calls: the CLI's two (each wrapped in client_connected/disconnected) and the SDK client's connect.
  assert.ok(sample(families, 'orrery_calls_total', 'orrery_calls_total', { ...chat, outcome: 'ok' }) >= 3);
  assert.equal(sample(families, 'orrery_calls_total', 'orrery_calls_total', { ...chat, outcome: 'user_error' }), 1);
  assert.ok(sample(families, 'orrery_commits_total', 'orrery_commits_total', chat) >= 3);
  assert.equal(sample(families, 'orrery_connected_clients', 'orrery_connected_clients', chat), 1);
  assert.equal(sample(families, 'orrery_subscribed_queries', 'orrery_subscribed_queries', chat), 2);
  assert.equal(sample(families, 'orrery_database_awake', 'orrery_database_awake', chat), 1);
  assert.equal(sample(families, 'orrery_databases', 'orrery_databases', { state: 'awake' }), 1);
  assert.ok(sample(families, 'orrery_fsyncs_total', 'orrery_fsyncs_total', {}) > 0);
  assert.ok(sample(families, 'orrery_process_resident_bytes', 'orrery_process_resident_bytes', {}) > 1e6);

  // The duration histogram: cumulative buckets, +Inf equal to the count.
  const hist = families.get('orrery_call_duration_seconds');
  assert.equal(hist.type, 'histogram');
  const buckets = hist.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.database === 'chat');
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'buckets are cumulative');
  assert.equal(buckets.at(-1).labels.le, '+Inf');
  assert.equal(buckets.at(-1).value, sample(families, 'orrery_call_duration_seconds', 'orrery_call_duration_seconds_count', chat));

  // The console's view of the same database: its recent calls, the failure with its text.
  const token = JSON.parse((await import('node:fs')).readFileSync(path.join(me, 'config.json'), 'utf8'))
    .servers.find((s) => s.url === host.url).token;
  const own = await (await fetch(`${host.url}/v1/database/chat/metrics`, { headers: { authorization: `Bearer ${token}` } })).json();
  const failed = own.recent_calls.find((c) => c.outcome === 'user_error');
  assert.equal(failed.function, 'send_message');
  assert.match(failed.error, /Messages must not be empty/);
  const stranger = await fetch(`${host.url}/v1/database/chat/metrics`);
  assert.notEqual(stranger.status, 200, 'a stranger sees no database figures');

  conn.disconnect();
  await waitUntil(async () => {
    const again = parsePrometheus(await (await fetch(`${host.url}/metrics`)).text());
    return sample(again, 'orrery_connected_clients', 'orrery_connected_clients', chat) === 0;
  }, 'the client to be counted gone');
});

test('with a metrics token, /metrics answers only scrapers that send it', async () => {
  const dir = tempDir('metrics-token');
  const guarded = await startHost(dir, '127.0.0.1:0', ['--metrics-token', 'scrape-secret']);
  try {
    assert.equal((await fetch(`${guarded.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const res = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer scrape-secret' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP orrery_/m);
  } finally {
    await guarded.stop();
    removeDir(dir);
  }
});

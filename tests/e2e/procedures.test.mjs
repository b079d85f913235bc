// Procedures: no implicit transaction; `ctx.withTx` commits inside; outbound
// HTTP (to a local server here) with a timeout; return values over WebSocket
// (the SDK, bindings from `orrery generate`) and over HTTP. And the module's
// own HTTP routes. Real `orrery start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setGlobalLogLevel } from 'spacetimedb';
import { WebSocket } from 'undici';
import { cli, connectClient, removeDir, sdkBindings, startHost, subscribeTo, tempDir, waitUntil } from './harness.mjs';

globalThis.WebSocket = WebSocket;  // Node 20 has none; the SDK takes the global
setGlobalLogLevel('warn');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundles = process.env.ORRERY_BUNDLE_DIR ?? path.join(root, 'build/bundles');
const moduleArgs = ['-j', path.join(bundles, 'procedures.js')];
let dataDir, host, me, bindings, quotes, quotesUrl;
const received = [];
const stalled = [];

function ok(r) {
  assert.equal(r.status, 0, `CLI failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const run = (...args) => cli(me, [...args, '-s', host.url]);

before(async () => {
  // The quote service: POST /quote answers a quote; /stall never answers.
  quotes = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      if (req.url === '/stall') return void stalled.push(res);
      received.push({ method: req.method, url: req.url, id: req.headers['x-quote-id'], body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Simplicity is prerequisite for reliability.');
    });
  });
  await new Promise((resolve) => quotes.listen(0, '127.0.0.1', resolve));
  quotesUrl = `http://127.0.0.1:${quotes.address().port}`;
  dataDir = tempDir('procedures');
  me = tempDir('procedures-me');
  host = await startHost(dataDir, '127.0.0.1:0', ['--allow-private-outbound-http']);
  ok(run('publish', 'quotes', ...moduleArgs));
  bindings = await sdkBindings('procedures', moduleArgs);
});

after(async () => {
  await host?.stop();
  for (const res of stalled) res.destroy();
  await new Promise((resolve) => quotes.close(resolve));
  removeDir(dataDir);
  removeDir(me);
});

const connect = (t) => connectClient(t, bindings, host.url, 'quotes');

/** POST /call/:name, without blocking this process (which serves the quotes). */
async function callOverHttp(token, name, args) {
  const res = await fetch(`${host.url}/v1/database/quotes/call/${name}`, {
    method: 'POST', body: JSON.stringify(args), headers: { Authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.text() };
}

test('a procedure calls a local HTTP server, writes in withTx, and returns a value', async (t) => {
  const { conn, token } = await connect(t);
  await subscribeTo(conn, ['SELECT * FROM quote', 'SELECT * FROM quote_count']);
  const counted = () => [...conn.db.quoteCount.iter()].map((r) => r.quotes)[0];
  assert.equal(counted(), 0n);
  const length = await conn.procedures.fetchQuote({ id: 1, url: `${quotesUrl}/quote` });
  assert.equal(length, 'Simplicity is prerequisite for reliability.'.length);
  assert.deepEqual(received.at(-1), { method: 'POST', url: '/quote', id: '1', body: 'please' });
  // The subscriber hears of the procedure's transaction.
  await waitUntil(() => conn.db.quote.id.find(1), 'the subscriber to see quote 1');
  assert.equal(conn.db.quote.id.find(1).text, 'Simplicity is prerequisite for reliability.');
  // A view over the table is computed again once the procedure returns.
  await waitUntil(() => counted() === 1n, 'the quote_count view to reach 1');

  // A transaction that threw was rolled back; the next one saw only quote 1.
  assert.equal(await conn.procedures.countAfterFailedTx({}), 1n);
  const rows = JSON.parse(ok(run('sql', 'quotes', 'SELECT id, fetched_at FROM quote', '--format', 'json')));
  assert.deepEqual(rows[0].rows.map((r) => r[0]), [1]);

  // A request past its timeout fails the procedure with the reason.
  await assert.rejects(conn.procedures.fetchWithTimeout({ url: `${quotesUrl}/stall`, millis: 300 }),
    /no response within 300 ms/);
  // Over HTTP, the return value is SATS-JSON.
  assert.deepEqual(await callOverHttp(token, 'fetch_quote', [2, `${quotesUrl}/quote`]), { status: 200, body: '43' });
  assert.equal(received.at(-1).id, '2');
  assert.match(ok(run('call', 'quotes', 'count_after_failed_tx')), /^2\s*$/);
  assert.equal((await callOverHttp(token, 'fetch_quote', ['x'])).status, 400);
  const unknown = run('call', 'quotes', 'no_such_thing');
  assert.match(unknown.stderr, /HTTP 404\): no such reducer: `no_such_thing`/);
});

test('the module serves its HTTP routes under /v1/database/:name/route', async () => {
  const base = `${host.url}/v1/database/quotes/route`;
  const hello = await fetch(`${base}/hello?name=Ada`);
  assert.equal(hello.status, 200);
  assert.equal(hello.headers.get('x-greeting'), 'yes');
  assert.equal(await hello.text(), 'hello Ada (GET)');

  const stored = await fetch(`${base}/quotes`, { method: 'POST', body: JSON.stringify({ id: 7, text: 'via a route' }) });
  assert.equal(stored.status, 201);
  assert.equal(stored.headers.get('content-type'), 'application/json');
  assert.deepEqual(await stored.json(), { stored: 7 });
  assert.match(ok(run('sql', 'quotes', 'SELECT text FROM quote WHERE id = 7')), /via a route/);

  const wrongMethod = await fetch(`${base}/hello`, { method: 'POST' });
  assert.equal(wrongMethod.status, 404);
  assert.equal(await wrongMethod.text(), 'Database has not registered a handler for this route');
  assert.equal((await fetch(`${base}/nowhere`)).status, 404);
  const broken = await fetch(`${base}/broken`, { method: 'DELETE' });
  assert.equal(broken.status, 500);
  assert.match(await broken.text(), /this handler is broken/);
  assert.match(ok(run('logs', 'quotes')), /HTTP handler `broken` failed/);
  const empty = await fetch(`${base}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), '');
  assert.equal((await fetch(`${base}/hello`)).status, 200, 'the host serves on');
});

test('without --allow-private-outbound-http, procedures cannot reach loopback addresses', async () => {
  const guarded = tempDir('procedures-guarded');
  const other = await startHost(guarded);
  try {
    ok(cli(me, ['publish', 'quotes', ...moduleArgs, '-s', other.url]));
    const refused = cli(me, ['call', 'quotes', 'fetch_quote', '3', JSON.stringify(`${quotesUrl}/quote`), '-s', other.url]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /refusing to connect to private or special-purpose addresses/);
  } finally {
    await other.stop();
    removeDir(guarded);
  }
});

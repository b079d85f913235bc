// A module with procedures and HTTP routes: they run outside any
// transaction, call out over HTTP, write in `ctx.withTx`, and return values
// (procedures) or HTTP responses (routes) to their callers.
import { schema, table, t, Router, SyncResponse } from 'spacetimedb/server';
import { TimeDuration } from 'spacetimedb';

const quote = table({ public: true }, { id: t.u32().primaryKey(), text: t.string(), fetchedAt: t.timestamp() });

const spacetimedb = schema({ quote });
export default spacetimedb;

// How many quotes there are: a view the procedures' transactions change.
const counted = t.row('QuoteCount', { quotes: t.u64() });
export const quote_count = spacetimedb.anonymousView({ name: 'quote_count', public: true }, t.array(counted), (ctx) => [
  { quotes: ctx.db.quote.count() },
]);

// Fetches a quote, stores it, and returns its length.
export const fetch_quote = spacetimedb.procedure({ id: t.u32(), url: t.string() }, t.u32(), (ctx, { id, url }) => {
  const response = ctx.http.fetch(url, { method: 'POST', headers: { 'x-quote-id': String(id) }, body: 'please' });
  if (!response.ok) throw new Error(`the quote service answered ${response.status}`);
  const text = response.text();
  ctx.withTx((tx) => {
    tx.db.quote.insert({ id, text, fetchedAt: tx.timestamp });
  });
  return text.length;
});

// A transaction that throws is rolled back; the procedure goes on.
export const count_after_failed_tx = spacetimedb.procedure(t.u64(), (ctx) => {
  try {
    ctx.withTx((tx) => {
      tx.db.quote.insert({ id: 999, text: 'never kept', fetchedAt: tx.timestamp });
      throw new Error('changed my mind');
    });
  } catch {
    // expected
  }
  return ctx.withTx((tx) => tx.db.quote.count());
});

// A request with a short timeout: its error reaches the caller.
export const fetch_with_timeout = spacetimedb.procedure({ url: t.string(), millis: t.u32() }, t.string(), (ctx, { url, millis }) => {
  return ctx.http.fetch(url, { timeout: TimeDuration.fromMillis(millis) }).text();
});

// Routes served under /v1/database/<name>/route.
export const hello = spacetimedb.httpHandler((_ctx, req) => {
  const query = req.url.split('?')[1] ?? '';
  const name = /(?:^|&)name=([^&]*)/.exec(query)?.[1] ?? 'world';
  return new SyncResponse(`hello ${name} (${req.method})`, { headers: { 'content-type': 'text/plain', 'x-greeting': 'yes' } });
});

export const add_quote = spacetimedb.httpHandler((ctx, req) => {
  const { id, text } = req.json();
  ctx.withTx((tx) => {
    tx.db.quote.insert({ id, text, fetchedAt: tx.timestamp });
  });
  return new SyncResponse(JSON.stringify({ stored: id }), { status: 201, headers: { 'content-type': 'application/json' } });
});

export const broken = spacetimedb.httpHandler(() => {
  throw new Error('this handler is broken');
});

// A 204 carries no body, whatever the handler put in it.
export const no_content = spacetimedb.httpHandler(() => new SyncResponse('ignored', { status: 204 }));

export const routes = spacetimedb.httpRouter(
  new Router().get('/hello', hello).post('/quotes', add_quote).any('/broken', broken).get('/empty', no_content)
);

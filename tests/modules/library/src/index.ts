// A test module for join subscriptions and private tables.
import { schema, table, t } from 'spacetimedb/server';

const author = table({ public: true }, { id: t.u32().primaryKey(), name: t.string() });
const book = table({ public: true }, { id: t.u32().primaryKey(), authorId: t.u32().index('btree'), title: t.string() });
const audit = table({}, { id: t.u64().primaryKey().autoInc(), note: t.string() });

const spacetimedb = schema({ author, book, audit });
export default spacetimedb;

export const add_author = spacetimedb.reducer({ id: t.u32(), name: t.string() }, (ctx, { id, name }) => {
  ctx.db.author.insert({ id, name });
  ctx.db.audit.insert({ id: 0n, note: `author ${name}` });
});

export const rename_author = spacetimedb.reducer({ id: t.u32(), name: t.string() }, (ctx, { id, name }) => {
  const a = ctx.db.author.id.find(id);
  if (a) ctx.db.author.id.update({ ...a, name });
});

export const add_book = spacetimedb.reducer(
  { id: t.u32(), authorId: t.u32(), title: t.string() },
  (ctx, { id, authorId, title }) => {
    ctx.db.book.insert({ id, authorId, title });
  }
);

// A test module for subscriptions filtered by the caller: every item belongs
// to the identity that added it, and clients subscribe to their own items
// with `WHERE owner = :sender`.
import { schema, table, t } from 'spacetimedb/server';

const item = table({ public: true }, { id: t.u64().primaryKey().autoInc(), owner: t.identity(), name: t.string() });

const spacetimedb = schema({ item });
export default spacetimedb;

export const add = spacetimedb.reducer({ name: t.string() }, (ctx, { name }) => {
  ctx.db.item.insert({ id: 0n, owner: ctx.sender, name });
});

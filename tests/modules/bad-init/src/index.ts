// A module whose init reducer fails: publishing it must be refused.
import { schema, table, t } from 'spacetimedb/server';

const spacetimedb = schema({ item: table({}, { id: t.u32().primaryKey() }) });
export default spacetimedb;

export const init = spacetimedb.init(ctx => {
  ctx.db.item.insert({ id: 1 });
  throw new Error('init refuses to start');
});

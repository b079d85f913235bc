// A module with an event table: until the host keeps event rows out of its
// tables, publishing it must be refused, not stored as an ordinary table.
import { schema, table, t } from 'spacetimedb/server';

const spacetimedb = schema({ ping: table({ public: true, event: true }, { id: t.u32() }) });
export default spacetimedb;

export const send_ping = spacetimedb.reducer({ id: t.u32() }, (ctx, { id }) => {
  ctx.db.ping.insert({ id });
});

// A module with row-level security: every note belongs to the identity that
// wrote it, and a client other than the owner sees its own notes only,
// whatever it subscribes to or queries.
import { schema, table, t } from 'spacetimedb/server';

const note = table({ public: true }, { id: t.u64().primaryKey().autoInc(), owner: t.identity(), text: t.string() });

const spacetimedb = schema({ note });
export default spacetimedb;

export const own_notes = spacetimedb.clientVisibilityFilter.sql('SELECT * FROM note WHERE owner = :sender');

export const add_note = spacetimedb.reducer({ text: t.string() }, (ctx, { text }) => {
  ctx.db.note.insert({ id: 0n, owner: ctx.sender, text });
});

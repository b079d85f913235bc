// A module with a row-level security filter: until the host enforces such
// filters, publishing it must be refused, not served without them.
import { schema, table, t } from 'spacetimedb/server';

const spacetimedb = schema({ note: table({ public: true }, { id: t.u32().primaryKey(), owner: t.identity() }) });
export default spacetimedb;

export const own_notes = spacetimedb.clientVisibilityFilter.sql('SELECT * FROM note WHERE owner = :sender');

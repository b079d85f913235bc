// The transfer benchmark's module: accounts and a transfer between two.
import { schema, table, t, SenderError } from 'spacetimedb/server';

const account = table({}, { id: t.u32().primaryKey(), balance: t.i64() });
const spacetimedb = schema({ account });
export default spacetimedb;

export const seed = spacetimedb.reducer({ count: t.u32(), balance: t.i64() }, (ctx, { count, balance }) => {
  for (let id = 0; id < count; id++) ctx.db.account.insert({ id, balance });
});

export const transfer = spacetimedb.reducer(
  { from: t.u32(), to: t.u32(), amount: t.i64() },
  (ctx, { from, to, amount }) => {
    const source = ctx.db.account.id.find(from);
    const target = ctx.db.account.id.find(to);
    if (!source || !target) throw new SenderError('no such account');
    if (source.balance < amount) throw new SenderError('insufficient funds');
    ctx.db.account.id.update({ ...source, balance: source.balance - amount });
    ctx.db.account.id.update({ ...target, balance: target.balance + amount });
  }
);

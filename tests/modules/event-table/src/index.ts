// A module with an event table: a hit's damage is an event, broadcast to
// subscribers of `damage` and gone once its transaction commits, while the
// target's health is kept.
import { schema, table, t } from 'spacetimedb/server';

const damage = table({ public: true, event: true }, { target: t.u32(), amount: t.u32() });
const health = table({ public: true }, { id: t.u32().primaryKey(), hp: t.u32() });

const spacetimedb = schema({ damage, health });
export default spacetimedb;

export const hit = spacetimedb.reducer({ target: t.u32(), amount: t.u32() }, (ctx, { target, amount }) => {
  ctx.db.damage.insert({ target, amount });
  const now = ctx.db.health.id.find(target);
  const hp = Math.max(0, (now?.hp ?? 100) - amount);
  if (now) ctx.db.health.id.update({ id: target, hp });
  else ctx.db.health.insert({ id: target, hp });
  console.log(`damage rows in this transaction: ${ctx.db.damage.count()}`);
});

// A module built with the 1.x library (RawModuleDef V9, spacetime:sys@1.x):
// names as written, a unique index, a schedule, a user error, an anonymous view.
import { schema, table, t, SenderError } from 'spacetimedb-v1/server';

const userAccount = table(
  { name: 'UserAccount', public: true },
  { identity: t.identity().primaryKey(), displayName: t.string().optional(), online: t.bool() }
);
const message = table(
  { name: 'message', public: true, indexes: [{ name: 'bySender', algorithm: 'btree', columns: ['sender'] }] },
  { id: t.u64().primaryKey().autoInc(), sender: t.identity(), text: t.string() }
);
const reminder = table(
  { name: 'reminder', scheduled: 'remind' },
  { scheduledId: t.u64().primaryKey().autoInc(), scheduledAt: t.scheduleAt(), text: t.string() }
);

const spacetimedb = schema(userAccount, message, reminder);

spacetimedb.reducer('setName', { newName: t.string() }, (ctx, { newName }) => {
  if (!newName) throw new SenderError('Names must not be empty');
  const user = ctx.db.UserAccount.identity.find(ctx.sender);
  if (user) ctx.db.UserAccount.identity.update({ ...user, displayName: newName });
  else ctx.db.UserAccount.insert({ identity: ctx.sender, displayName: newName, online: false });
});

spacetimedb.reducer('sendMessage', { text: t.string() }, (ctx, { text }) => {
  ctx.db.message.insert({ id: 0n, sender: ctx.sender, text });
});

spacetimedb.reducer('deleteMine', (ctx) => {
  for (const m of [...ctx.db.message.bySender.filter(ctx.sender)]) ctx.db.message.id.delete(m.id);
});

spacetimedb.reducer('remindLater', { text: t.string() }, (ctx, { text }) => {
  const at = ctx.timestamp.microsSinceUnixEpoch + 50_000n;
  ctx.db.reminder.insert({ scheduledId: 0n, scheduledAt: { tag: 'Time', value: { __timestamp_micros_since_unix_epoch__: at } } as any, text });
});

spacetimedb.reducer('remind', { arg: reminder.rowType }, (ctx, { arg }) => {
  ctx.db.message.insert({ id: 0n, sender: ctx.identity, text: `reminder: ${arg.text}` });
});

spacetimedb.clientConnected((ctx) => {
  const user = ctx.db.UserAccount.identity.find(ctx.sender);
  if (user) ctx.db.UserAccount.identity.update({ ...user, online: true });
  else ctx.db.UserAccount.insert({ identity: ctx.sender, displayName: undefined, online: true });
});

spacetimedb.clientDisconnected((ctx) => {
  const user = ctx.db.UserAccount.identity.find(ctx.sender);
  if (user) ctx.db.UserAccount.identity.update({ ...user, online: false });
});

spacetimedb.anonymousView({ name: 'message_count', public: true }, t.array(t.object('Count', { n: t.u64() })), (ctx) => [
  { n: ctx.db.message.count() },
]);

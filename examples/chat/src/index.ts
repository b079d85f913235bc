// The chat module of the public quickstart: users with names and online
// status, and the messages they send.
import { schema, table, t, SenderError } from 'spacetimedb/server';

const spacetimedb = schema({
  user: table(
    { public: true },
    {
      identity: t.identity().primaryKey(),
      name: t.string().optional(),
      online: t.bool(),
    }
  ),
  message: table(
    { public: true },
    {
      sender: t.identity(),
      sent: t.timestamp(),
      text: t.string(),
    }
  ),
});
export default spacetimedb;

function validateName(name: string) {
  if (!name) {
    throw new SenderError('Names must not be empty');
  }
  return name;
}

export const set_name = spacetimedb.reducer({ name: t.string() }, (ctx, { name }) => {
  const validated = validateName(name);
  const user = ctx.db.user.identity.find(ctx.sender);
  if (!user) {
    throw new SenderError('Cannot set name for unknown user');
  }
  ctx.db.user.identity.update({ ...user, name: validated });
});

function validateMessage(text: string) {
  if (!text) {
    throw new SenderError('Messages must not be empty');
  }
  return text;
}

export const send_message = spacetimedb.reducer({ text: t.string() }, (ctx, { text }) => {
  const validated = validateMessage(text);
  console.info(`User ${ctx.sender}: ${validated}`);
  ctx.db.message.insert({ sender: ctx.sender, text: validated, sent: ctx.timestamp });
});

export const init = spacetimedb.init(_ctx => {});

export const onConnect = spacetimedb.clientConnected(ctx => {
  const user = ctx.db.user.identity.find(ctx.sender);
  if (user) {
    ctx.db.user.identity.update({ ...user, online: true });
  } else {
    ctx.db.user.insert({ identity: ctx.sender, name: undefined, online: true });
  }
});

export const onDisconnect = spacetimedb.clientDisconnected(ctx => {
  const user = ctx.db.user.identity.find(ctx.sender);
  if (user) {
    ctx.db.user.identity.update({ ...user, online: false });
  } else {
    console.warn(`Disconnect event for unknown user with identity ${ctx.sender}`);
  }
});

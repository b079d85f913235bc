// A test module that touches every column type, every index kind and the
// other features the host must support. Reducers log what they see; the
// end-to-end tests read the log.
import { schema, table, t, SenderError, Range } from 'spacetimedb/server';
import { ScheduleAt } from 'spacetimedb';

const Point = t.object('Point', { x: t.i32(), y: t.i32() });
const Shape = t.enum('Shape', { Dot: t.unit(), Circle: t.u32(), Box: Point });

const thing = table(
  {
    public: true,
    indexes: [{ accessor: 'by_group_rank', algorithm: 'btree', columns: ['group', 'rank'] }],
  },
  {
    id: t.u64().primaryKey().autoInc(),
    code: t.string().unique(),
    group: t.u32(),
    rank: t.i64(),
    flag: t.bool(),
    i8v: t.i8(),
    u8v: t.u8(),
    i16v: t.i16(),
    u16v: t.u16(),
    i32v: t.i32(),
    u32v: t.u32(),
    i128v: t.i128(),
    u128v: t.u128(),
    i256v: t.i256(),
    u256v: t.u256(),
    f32v: t.f32(),
    f64v: t.f64(),
    bytes: t.byteArray(),
    words: t.array(t.string()),
    maybe: t.option(t.string()),
    owner: t.identity(),
    at: t.timestamp(),
    took: t.timeDuration(),
    point: Point,
    shape: Shape,
    tag: t.u32().index('hash'),
  }
);

const tick = table(
  {},
  {
    scheduledId: t.u64().primaryKey().autoInc(),
    scheduledAt: t.scheduleAt(),
    note: t.string(),
  }
);

const secret = table({}, { id: t.u32().primaryKey(), text: t.string() });

const spacetimedb = schema({ thing, tick, secret });
export default spacetimedb;

const I128_MIN = -(2n ** 127n);
const U128_MAX = 2n ** 128n - 1n;
const I256_MIN = -(2n ** 255n);
const U256_MAX = 2n ** 256n - 1n;

export const insert_thing = spacetimedb.reducer(
  { code: t.string(), group: t.u32(), rank: t.i64() },
  (ctx, { code, group, rank }) => {
    const row = ctx.db.thing.insert({
      id: 0n,
      code,
      group,
      rank,
      flag: true,
      i8v: -128,
      u8v: 255,
      i16v: -32768,
      u16v: 65535,
      i32v: -2147483648,
      u32v: 4294967295,
      i128v: I128_MIN,
      u128v: U128_MAX,
      i256v: I256_MIN,
      u256v: U256_MAX,
      f32v: 1.5,
      f64v: -2.25e300,
      bytes: new Uint8Array([0, 1, 254, 255]),
      words: ['a', 'b\u00e9'],
      maybe: code.length > 2 ? code : undefined,
      owner: ctx.sender,
      at: ctx.timestamp,
      took: { __time_duration_micros__: 1500n } as any,
      point: { x: -1, y: 2 },
      shape: { tag: 'Box', value: { x: 3, y: 4 } },
      tag: group * 10,
    });
    console.info(`inserted ${code} as ${row.id}`);
  }
);

export const check_types = spacetimedb.reducer(ctx => {
  for (const r of ctx.db.thing.iter()) {
    const ok =
      r.flag === true && r.i8v === -128 && r.u8v === 255 && r.i16v === -32768 && r.u16v === 65535 &&
      r.i32v === -2147483648 && r.u32v === 4294967295 && r.i128v === I128_MIN && r.u128v === U128_MAX &&
      r.i256v === I256_MIN && r.u256v === U256_MAX && r.f32v === 1.5 && r.f64v === -2.25e300 &&
      r.bytes.length === 4 && r.bytes[3] === 255 && r.words[1] === 'b\u00e9' &&
      r.owner.isEqual(ctx.sender) && r.point.y === 2 && r.shape.tag === 'Box' &&
      r.took.micros === 1500n && (r.code.length > 2 ? r.maybe === r.code : r.maybe === undefined);
    if (!ok) throw new Error(`values of ${r.code} did not round-trip: ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  }
  console.info(`types ok for ${ctx.db.thing.count()} rows`);
});

export const find_code = spacetimedb.reducer({ code: t.string() }, (ctx, { code }) => {
  const r = ctx.db.thing.code.find(code);
  console.info(r ? `found ${code} id ${r.id} rank ${r.rank}` : `missing ${code}`);
});

export const count_group = spacetimedb.reducer({ group: t.u32() }, (ctx, { group }) => {
  const n = [...ctx.db.thing.by_group_rank.filter(group)].length;
  const hashed = [...ctx.db.thing.tag.filter(group * 10)].length;
  console.info(`group ${group} has ${n} (hash ${hashed})`);
});

export const count_range = spacetimedb.reducer(
  { group: t.u32(), low: t.i64(), high: t.i64() },
  (ctx, { group, low, high }) => {
    const range = new Range({ tag: 'included', value: low }, { tag: 'excluded', value: high });
    const n = [...ctx.db.thing.by_group_rank.filter([group, range])].length;
    console.info(`group ${group} ranks [${low}, ${high}) has ${n}`);
  }
);

export const set_rank = spacetimedb.reducer({ code: t.string(), rank: t.i64() }, (ctx, { code, rank }) => {
  const r = ctx.db.thing.code.find(code);
  if (!r) throw new SenderError(`no thing ${code}`);
  ctx.db.thing.id.update({ ...r, rank });
});

export const delete_below = spacetimedb.reducer({ group: t.u32(), rank: t.i64() }, (ctx, { group, rank }) => {
  const n = ctx.db.thing.by_group_rank.delete([group, new Range({ tag: 'unbounded' }, { tag: 'excluded', value: rank })]);
  console.info(`deleted ${n} below ${rank} in group ${group}`);
});

export const duplicate_code = spacetimedb.reducer({ code: t.string() }, (ctx, { code }) => {
  const r = ctx.db.thing.code.find(code);
  if (!r) throw new SenderError(`no thing ${code}`);
  ctx.db.thing.insert({ ...r, id: 0n });  // same code: violates the unique index
});

export const fail_user = spacetimedb.reducer(ctx => {
  ctx.db.secret.insert({ id: 1, text: 'never committed' });
  throw new SenderError('you asked for it');
});

export const fail_internal = spacetimedb.reducer(ctx => {
  ctx.db.secret.insert({ id: 2, text: 'never committed' });
  throw new Error('kaboom');
});

export const spin = spacetimedb.reducer(_ctx => {
  for (;;) {}
});

export const remember = spacetimedb.reducer({ id: t.u32(), text: t.string() }, (ctx, { id, text }) => {
  ctx.db.secret.insert({ id, text });
});

export const recall = spacetimedb.reducer(ctx => {
  const texts = [...ctx.db.secret.iter()].map(s => `${s.id}:${s.text}`).sort();
  console.info(`secrets: ${texts.join(',')}`);
});

export const every = spacetimedb.reducer({ ms: t.u64(), note: t.string() }, (ctx, { ms, note }) => {
  ctx.db.tick.insert({ scheduledId: 0n, scheduledAt: ScheduleAt.interval(ms * 1000n), note });
});

export const once = spacetimedb.reducer({ ms: t.u64(), note: t.string() }, (ctx, { ms, note }) => {
  ctx.db.tick.insert({ scheduledId: 0n, scheduledAt: ScheduleAt.time(ctx.timestamp.microsSinceUnixEpoch + ms * 1000n), note });
});

export const stop_ticks = spacetimedb.reducer(ctx => {
  for (const row of [...ctx.db.tick.iter()]) ctx.db.tick.scheduledId.delete(row.scheduledId);
});

export const on_tick = spacetimedb.reducer({ onSchedule: tick }, { arg: tick.rowType }, (_ctx, { arg }) => {
  console.info(`tick ${arg.note}`);
});

export const hog = spacetimedb.reducer(_ctx => {
  const hoard: string[][] = [];
  for (;;) hoard.push(new Array(100000).fill('x'.repeat(10)));
});

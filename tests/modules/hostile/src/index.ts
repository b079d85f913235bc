// A module that misbehaves on purpose. The host must stop each misdeed, roll
// it back, and go on serving this database and every other one on the host.
// (Misdeeds at the top level cannot live here, or the module would never
// load: tests/e2e/hostile.test.mjs writes those as one-line bundles.)
import { schema, table, t } from 'spacetimedb/server';
import { ScheduleAt } from 'spacetimedb';
import * as sys from 'spacetime:sys@2.0';

// A schedule the module points at itself with an interval of zero.
const beat = table({}, { scheduledId: t.u64().primaryKey().autoInc(), scheduledAt: t.scheduleAt() });
// How often each self-scheduled reducer ran, for the tests to read with SQL.
const counter = table({ public: true }, { name: t.string().primaryKey(), n: t.u64() });

const spacetimedb = schema({ beat, counter });
export default spacetimedb;

function bump(ctx: any, name: string) {
  const row = ctx.db.counter.name.find(name);
  if (row) ctx.db.counter.name.update({ name, n: row.n + 1n });
  else ctx.db.counter.insert({ name, n: 1n });
}

export const ping = spacetimedb.reducer(_ctx => {});

// About 1 GB of JavaScript arrays, grown one 8 MB array at a time.
export const hog = spacetimedb.reducer(_ctx => {
  const hoard: number[][] = [];
  for (let i = 0; i < 128; i++) hoard.push(new Array(1 << 20).fill(i));
  console.info(`hoarded ${hoard.length} arrays`);
});

// One 1 GB ArrayBuffer.
export const big_buffer = spacetimedb.reducer(_ctx => {
  const buffer = new ArrayBuffer(2 ** 30);
  console.info(`allocated ${buffer.byteLength} bytes`);
});

// A string as long as V8 allows, flattened and logged.
export const huge_string = spacetimedb.reducer(_ctx => {
  const text = 'x'.repeat(2 ** 29 - 24);
  console.info(text);
});

// Schedules on_beat every 0 microseconds.
export const start_beat = spacetimedb.reducer(ctx => {
  ctx.db.beat.insert({ scheduledId: 0n, scheduledAt: ScheduleAt.interval(0n) });
});

export const stop_beat = spacetimedb.reducer(ctx => {
  for (const row of [...ctx.db.beat.iter()]) ctx.db.beat.scheduledId.delete(row.scheduledId);
});

export const on_beat = spacetimedb.reducer({ onSchedule: beat }, { arg: beat.rowType }, ctx => {
  bump(ctx, 'beat');
});

// Runs itself again at once, forever.
export const again = spacetimedb.reducer(ctx => {
  bump(ctx, 'again');
  sys.volatile_nonatomic_schedule_immediate('again', new Uint8Array(0));
});

// Runs itself again at once, many times over, from every run.
export const swarm = spacetimedb.reducer(ctx => {
  bump(ctx, 'swarm');
  for (let i = 0; i < 10000; i++) {
    try {
      sys.volatile_nonatomic_schedule_immediate('swarm', new Uint8Array(0));
    } catch {
      break;
    }
  }
});

// Every syscall with arguments of the wrong type, negative, huge, or with
// lengths past the end of their buffer. Each must throw or fail; none may
// touch memory outside the buffer it was given.
export const garbage = spacetimedb.reducer(_ctx => {
  const values: unknown[] = [
    undefined, null, true, -1, -0.5, 0.5, 2 ** 32, 2 ** 53, 1e300, NaN, Infinity, -Infinity,
    '7', 'x'.repeat(100000), {}, [], 7n, -(2n ** 200n), Symbol('s'), () => 0,
    new ArrayBuffer(0), new ArrayBuffer(8), new Uint8Array(8), new DataView(new ArrayBuffer(8)),
    { valueOf: () => 3, toString: () => 'table' },
  ];
  const calls = [
    'table_id_from_name', 'index_id_from_name', 'datastore_table_row_count', 'datastore_table_scan_bsatn',
    'datastore_index_scan_point_bsatn', 'datastore_index_scan_range_bsatn', 'row_iter_bsatn_advance',
    'row_iter_bsatn_close', 'datastore_insert_bsatn', 'datastore_update_bsatn',
    'datastore_delete_by_index_scan_point_bsatn', 'datastore_delete_by_index_scan_range_bsatn',
    'datastore_delete_all_by_eq_bsatn', 'console_timer_end', 'get_jwt_payload',
  ];
  let made = 0;
  let refused = 0;
  const attempt = (f: () => unknown) => {
    made++;
    try {
      f();
    } catch {
      refused++;
    }
  };
  const any = sys as any;
  for (const name of calls)
    for (const a of values) {
      attempt(() => any[name](a, a, a, a, a, a));
      attempt(() => any[name](0, a, a, a, a, a));
      attempt(() => any[name](1, new ArrayBuffer(4), a, a, a, a));
    }
  // Lengths whose u32 sum wraps around to fit a 4-byte buffer.
  const wrap: string[] = [];
  for (const f of [sys.datastore_index_scan_range_bsatn, sys.datastore_delete_by_index_scan_range_bsatn as any])
    try {
      f(1, new ArrayBuffer(4), 0xffffffff, 0, 2, 0);
      wrap.push('ok');
    } catch (e: any) {
      wrap.push(e?.name ?? typeof e);
    }
  for (const len of [5, 0xffffffff, 2 ** 32, -1])
    try {
      sys.datastore_insert_bsatn(1, new ArrayBuffer(4), len);
      wrap.push('ok');
    } catch (e: any) {
      wrap.push(e?.name ?? typeof e);
    }
  console.info(`garbage: ${made} calls, ${refused} refused; lengths: ${wrap.join(' ')}`);
});

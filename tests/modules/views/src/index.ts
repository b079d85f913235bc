// A module with views: `my_tasks` is each caller's own open tasks (a view
// with a sender), `task_count` the number of tasks (an anonymous view).
import { schema, table, t } from 'spacetimedb/server';

const task = table({ public: true }, { id: t.u32().primaryKey(), owner: t.identity(), title: t.string(), done: t.bool() });
const spacetimedb = schema({ task });
export default spacetimedb;

const summary = t.row('TaskSummary', { name: t.string(), openTasks: t.u64() });

export const my_tasks = spacetimedb.view({ name: 'my_tasks', public: true }, t.array(task.rowType), (ctx) =>
  [...ctx.db.task.iter()].filter((row) => row.owner.isEqual(ctx.sender) && !row.done)
);

export const task_count = spacetimedb.anonymousView({ name: 'task_count', public: true }, t.array(summary), (ctx) => [
  { name: 'open', openTasks: BigInt([...ctx.db.task.iter()].filter((row) => !row.done).length) },
]);

// A view that returns a query rather than rows: the host runs the query.
export const finished_tasks = spacetimedb.anonymousView({ name: 'finished_tasks', public: true }, t.array(task.rowType), (ctx) =>
  ctx.from.task.where((row) => row.done.eq(true))
);

export const add_task = spacetimedb.reducer({ id: t.u32(), title: t.string() }, (ctx, { id, title }) => {
  ctx.db.task.insert({ id, owner: ctx.sender, title, done: false });
});

export const finish_task = spacetimedb.reducer({ id: t.u32() }, (ctx, { id }) => {
  const row = ctx.db.task.id.find(id);
  if (row) ctx.db.task.id.update({ ...row, done: true });
});

// How long a republish takes that migrates a table of N rows (a column added
// with a default: every row rebuilt, its indexes built again, the table
// written whole with the new module in one batch), against republishing the
// same module (nothing to migrate). Prints wall time per publish, as
// `orrery publish` sees it. `make bench` runs it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, orreryBin, removeDir, startHost, tempDir } from '../e2e/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rows = Number(process.argv[2] ?? 100000);

function bundle(name, columns) {
  const dir = path.join(root, 'build', 'bench-modules', name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'index.ts'), `import { schema, table, t } from 'spacetimedb/server';
const item = table({ public: true }, { id: t.u32().primaryKey(), owner: t.u32().index('btree'), name: t.string()${columns} });
const spacetimedb = schema({ item });
export default spacetimedb;
export const seed = spacetimedb.reducer({ from: t.u32(), count: t.u32() }, (ctx, { from, count }) => {
  for (let i = from; i < from + count; i++) ctx.db.item.insert({ id: i, owner: i % 1000, name: 'item ' + i } as any);
});
`);
  execFileSync(orreryBin, ['build', '-p', dir], { stdio: 'pipe' });
  return path.join(dir, 'dist', 'bundle.js');
}

const dataDir = tempDir('mt'), me = tempDir('mt-me');
const host = await startHost(dataDir);
const run = (...args) => {
  const r = cli(me, [...args, '-s', host.url]);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};
const v1 = bundle('migrate-v1', '');
const v2 = bundle('migrate-v2', ', level: t.u32().default(1)');
run('publish', 'items', '-j', v1);
for (let from = 0; from < rows; from += 20000) run('call', 'items', 'seed', String(from), String(Math.min(20000, rows - from)));
const timed = (...args) => {
  const started = performance.now();
  run(...args);
  return performance.now() - started;
};
const same = timed('publish', 'items', '-j', v1);
const migrated = timed('publish', 'items', '-j', v2, '--break-clients');
const count = JSON.parse(run('sql', 'items', 'SELECT COUNT(*) AS n FROM item WHERE level = 1', '--format', 'json'))[0].rows[0][0];
console.log(`republish with a migration (CPU: ${os.cpus()[0]?.model}, ${os.cpus().length} cores)`);
console.log(`same module again:                    ${same.toFixed(0)} ms`);
console.log(`column added to ${rows} rows:  ${migrated.toFixed(0)} ms (${count} rows backfilled)`);
await host.stop();
removeDir(dataDir); removeDir(me);
process.exit(0);

// Writes the RawModuleDef bytes that each module bundle's __describe_module__
// returns, as seeds for the module_def fuzz target:
//   node tests/fuzz/describe_bundles.mjs OUT_DIR BUNDLE.js...
// The host's `spacetime:sys@1.x` and `@2.x` modules are replaced by a stub
// whose syscalls do nothing (modules/syscalls.cpp names them): describing a
// module calls none of them, but a bundle's top level may take references to
// them. 1.x bundles hand their hooks to register_hooks, which the stub keeps.
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [outDir, ...bundles] = process.argv.slice(2);
if (!outDir || bundles.length === 0) {
  console.error('usage: node describe_bundles.mjs OUT_DIR BUNDLE.js...');
  process.exit(2);
}
const work = mkdtempSync(join(tmpdir(), 'orrery-describe-'));
const stub = join(work, 'sys.mjs');
const syscalls = [
  'table_id_from_name', 'index_id_from_name', 'datastore_table_row_count', 'datastore_table_scan_bsatn',
  'datastore_index_scan_point_bsatn', 'datastore_index_scan_range_bsatn', 'row_iter_bsatn_advance',
  'row_iter_bsatn_close', 'datastore_insert_bsatn', 'datastore_update_bsatn',
  'datastore_delete_by_index_scan_point_bsatn', 'datastore_delete_by_index_scan_range_bsatn',
  'datastore_delete_all_by_eq_bsatn', 'volatile_nonatomic_schedule_immediate', 'console_log',
  'console_timer_start', 'console_timer_end', 'identity', 'get_jwt_payload', 'procedure_http_request',
  'procedure_start_mut_tx', 'procedure_commit_mut_tx', 'procedure_abort_mut_tx', 'datastore_clear',
];
writeFileSync(stub, 'export const moduleHooks = Symbol("moduleHooks");\n' +
  'export const registered = {};\n' +
  'export function register_hooks(hooks) { Object.assign(registered, hooks); }\n' +
  syscalls.map((name) => `export function ${name}() {}\n`).join(''));
try {
  for (const bundle of bundles) {
    const source = readFileSync(bundle, 'utf8')
      .replaceAll(/"spacetime:sys@[12]\.\d"/g, JSON.stringify(pathToFileURL(stub).href));
    const copy = join(work, basename(bundle, '.js') + '.mjs');
    writeFileSync(copy, source);
    const ns = await import(pathToFileURL(copy).href);
    const { moduleHooks, registered } = await import(pathToFileURL(stub).href);
    const hooks = ns.default ? ns.default[moduleHooks](ns) : registered;
    const bytes = hooks.__describe_module__();
    const out = join(outDir, basename(bundle, '.js') + '.bsatn');
    writeFileSync(out, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    process.stdout.write(`${out}: ${bytes.byteLength} bytes\n`);  // bundles replace console
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

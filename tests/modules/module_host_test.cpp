// Modules written with the spacetimedb library, run in V8 against a datastore.

#include "modules/module_def.hpp"
#include "modules/module_host.hpp"
#include "runtime/types/bsatn.hpp"
#include "tests/support/bundles.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace orrery;
using orrery::testing::read_bundle;

namespace {

struct test_env : module_environment {
  std::vector<std::pair<log_level, std::string>> lines;
  std::vector<std::string> scheduled;
  void log(log_level level, std::string_view message) override { lines.emplace_back(level, std::string(message)); }
  identity database_identity() const override { return identity::from_claims("test", "db"); }
  std::string jwt_payload(const connection_id&) const override { return "{}"; }
  void schedule_immediate(std::string name, std::string) override { scheduled.push_back(name); }
};

// A loaded module bound to an in-memory datastore with its tables.
struct running_module {
  test_env env;
  std::unique_ptr<module_instance> instance;
  module_def def;
  std::unique_ptr<datastore> ds;
  name_bindings names;

  explicit running_module(const std::string& bundle, module_limits limits = {}) {
    auto loaded = module_instance::load(bundle, env, limits);
    INFO((loaded.ok() ? std::string() : loaded.error().message));
    REQUIRE(loaded.ok());
    instance = std::move(*loaded);
    auto decoded = decode_module_def(instance->definition());
    INFO((decoded.ok() ? std::string() : decoded.error().message));
    REQUIRE(decoded.ok());
    def = std::move(*decoded);
    ds = std::move(*datastore::open(nullptr, nullptr, 1));
    for (std::size_t i = 0; i < def.tables.size(); ++i) {
      auto id = ds->create_table(def.tables[i]);
      REQUIRE(id.ok());
      names.tables[def.tables[i].name] = *id;
      names.tables[def.table_sources[i].name] = *id;
      const table* t = ds->find_table(*id);
      for (std::size_t k = 0; k < t->schema().indexes.size(); ++k) {
        names.indexes[t->schema().indexes[k].name] = t->schema().indexes[k].id;
        names.indexes[def.table_sources[i].index_names[k]] = t->schema().indexes[k].id;
      }
    }
    instance->bind(*ds, names);
  }

  call_outcome call(const std::string& reducer, const std::string& args_bsatn, const identity& sender) {
    auto id = def.reducer_id(reducer);
    REQUIRE(id);
    auto tx = ds->begin();
    auto outcome = instance->call_reducer(*id, sender, connection_id::random(), 1700000000000000, args_bsatn, tx);
    if (outcome.status == call_status::ok) tx.commit();
    else tx.rollback();
    return outcome;
  }
};

} // namespace

TEST_CASE("the chat module loads and describes itself", "[modules]") {
  running_module m(read_bundle("chat"));
  REQUIRE(m.def.tables.size() == 2);
  CHECK(m.def.tables[0].name == "user");
  CHECK(m.def.tables[0].is_public);
  CHECK(m.def.tables[0].primary_key == std::optional<std::uint16_t>(0));
  CHECK(m.def.tables[0].columns[0].type.special() == special_type::identity);
  CHECK(m.def.tables[1].name == "message");
  CHECK(m.def.reducer("set_name"));
  CHECK(m.def.reducer("send_message"));
  CHECK(m.def.lifecycle_reducer(lifecycle::init));
  CHECK(m.def.lifecycle_reducer(lifecycle::on_connect));
  CHECK(m.def.lifecycle_reducer(lifecycle::on_disconnect));
}

TEST_CASE("chat reducers run, commit, and report SenderError", "[modules]") {
  running_module m(read_bundle("chat"));
  identity alice = identity::from_claims("test", "alice");
  REQUIRE(m.call("on_connect", "", alice).status == call_status::ok);
  const table* user = m.ds->find_table("user");
  CHECK(user->row_count() == 1);

  auto named = m.call("set_name", encode_value(product_value{{std::string("Alice")}}), alice);
  INFO(named.message);
  REQUIRE(named.status == call_status::ok);

  auto empty = m.call("set_name", encode_value(product_value{{std::string("")}}), alice);
  CHECK(empty.status == call_status::user_error);
  CHECK(empty.message == "Names must not be empty");

  REQUIRE(m.call("send_message", encode_value(product_value{{std::string("hello")}}), alice).status == call_status::ok);
  CHECK(m.ds->find_table("message")->row_count() == 1);
  REQUIRE_FALSE(m.env.lines.empty());
  CHECK(m.env.lines.back().second.find("hello") != std::string::npos);
}

TEST_CASE("bad bundles are refused with the module's own error", "[modules]") {
  test_env env;
  auto syntax = module_instance::load("export default {", env);
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.error().message.find("does not compile") != std::string::npos);
  CHECK(syntax.error().message.find("SyntaxError") != std::string::npos);

  auto throws = module_instance::load("throw new Error('boom at load');", env);
  REQUIRE_FALSE(throws.ok());
  CHECK(throws.error().message.find("boom at load") != std::string::npos);

  auto no_default = module_instance::load("export const x = 1;", env);
  CHECK(no_default.error().message.find("no default export") != std::string::npos);

  auto bad_import = module_instance::load("import x from 'fs'; export default x;", env);
  CHECK(bad_import.error().message.find("Could not find module fs") != std::string::npos);

  auto not_schema = module_instance::load("export default {};", env);
  CHECK(not_schema.error().message.find("not a spacetimedb schema") != std::string::npos);
}

// ---- hostile modules: whatever the module does, the call fails and the host goes on ----

namespace {

// A hand-written module in the ABI's shape (module-abi.md §1): `reducers` is
// the body of an object literal of functions (each a reducer without
// parameters, reducer id = position), `top_level` runs while the module
// loads, `describe` before __describe_module__ answers.
std::string hostile_module(const std::string& reducers, const std::string& top_level = "",
                           const std::string& describe = "") {
  return R"JS(
import * as sys from 'spacetime:sys@2.0';
import { moduleHooks } from 'spacetime:sys@2.0';
// RawModuleDef V10 with one section, the reducers, each without parameters.
function definition(names) {
  const bytes = [2];
  const u32 = (n) => bytes.push(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  u32(1);
  bytes.push(3);
  u32(names.length);
  for (const name of names) {
    u32(name.length);
    for (let i = 0; i < name.length; ++i) bytes.push(name.charCodeAt(i));
    u32(0);
    bytes.push(1);
    bytes.push(2); u32(0);
    bytes.push(2); u32(0);
  }
  return new Uint8Array(bytes);
}
class SenderError extends Error {}
const errors = {};
const log = (text) => sys.console_log(2, String(text));
const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e && e.name ? e.name : typeof e; } };
const reducers = {)JS" + reducers + R"JS(};
const names = Object.keys(reducers);
)JS" + top_level + R"JS(
const hooks = {
  __describe_module__() { )JS" + describe + R"JS( return definition(names); },
  __get_error_constructor__(code) {
    return errors[code] ??= class extends Error { get name() { return 'Errno' + code; } };
  },
  __sender_error_class__: SenderError,
  __call_reducer__(id, sender, connection, timestamp, args) { reducers[names[id]](args); },
};
export default { [moduleHooks]() { return hooks; } };
)JS";
}

module_limits tight_limits() {
  module_limits limits;
  limits.reducer_budget = std::chrono::milliseconds(300);
  limits.heap_limit_bytes = std::size_t(64) << 20;
  return limits;
}

// Room to reach the heap limit before the time budget.
module_limits memory_limits() {
  module_limits limits = tight_limits();
  limits.reducer_budget = std::chrono::milliseconds(20000);
  return limits;
}

struct stopwatch {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  long long ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* const ok_reducer = "ok() { log('still here'); },";

} // namespace

TEST_CASE("a top level that never ends is stopped within the budget and the load refused", "[modules]") {
  test_env env;
  for (const char* code : {"for (;;) {}",
                           "export default {}; while (true) { JSON.stringify({ a: [1, 2, 3] }); }",
                           "(function again() { Promise.resolve().then(again); })(); export default {};"}) {
    INFO(code);
    stopwatch clock;
    auto loaded = module_instance::load(code, env, tight_limits());
    REQUIRE_FALSE(loaded.ok());
    CHECK(clock.ms() < 2000);
    CHECK(contains(loaded.error().message, "ran longer than 300 ms while evaluating its top level"));
  }
}

TEST_CASE("module hooks and __describe_module__ that never end are stopped", "[modules]") {
  test_env env;
  stopwatch clock;
  auto describe = module_instance::load(hostile_module(ok_reducer, "", "for (;;) {}"), env, tight_limits());
  REQUIRE_FALSE(describe.ok());
  CHECK(contains(describe.error().message, "ran longer than 300 ms while running __describe_module__"));

  auto hooks = module_instance::load(
    "import { moduleHooks } from 'spacetime:sys@2.0'; export default { [moduleHooks]() { for (;;) {} } };", env,
    tight_limits());
  REQUIRE_FALSE(hooks.ok());
  CHECK(contains(hooks.error().message, "ran longer than 300 ms while running its module hooks"));
  CHECK(clock.ms() < 4000);
}

TEST_CASE("reducers that never end, or whose error never prints, are stopped", "[modules]") {
  identity alice = identity::from_claims("test", "alice");
  for (const char* reducer : {"spin() { for (;;) {} },",
                              "spin() { throw { toString() { for (;;) {} } }; },",
                              "spin() { throw new (class extends SenderError { get message() { for (;;) {} } })(); },"}) {
    INFO(reducer);
    running_module m(hostile_module(std::string(ok_reducer) + reducer), tight_limits());
    stopwatch clock;
    auto outcome = m.call("spin", "", alice);
    CHECK(clock.ms() < 2000);
    CHECK(outcome.status == call_status::internal_error);
    CHECK(outcome.message == "the reducer ran longer than 300 ms and was stopped");
    CHECK(m.instance->broken());
    // A broken instance refuses at once; its database loads a fresh one.
    CHECK(m.call("ok", "", alice).status == call_status::internal_error);
  }
}

TEST_CASE("a gigabyte at the top level is refused, the host goes on", "[modules]") {
  test_env env;
  auto arrays = module_instance::load(
    "const hoard = []; for (let i = 0; i < 128; i++) hoard.push(new Array(1 << 20).fill(i)); export default {};", env,
    memory_limits());
  REQUIRE_FALSE(arrays.ok());
  CHECK(contains(arrays.error().message, "ran out of memory while evaluating its top level (heap limit 64 MB)"));

  auto buffer = module_instance::load("const b = new ArrayBuffer(2 ** 30); export default {};", env, memory_limits());
  REQUIRE_FALSE(buffer.ok());
  CHECK(contains(buffer.error().message, "RangeError: Array buffer allocation failed"));

  auto typed = module_instance::load("const b = new Float64Array(2 ** 27); export default {};", env, memory_limits());
  REQUIRE_FALSE(typed.ok());
  CHECK(contains(typed.error().message, "RangeError"));

  // The host still loads and runs modules.
  running_module m(hostile_module(ok_reducer), memory_limits());
  CHECK(m.call("ok", "", identity::from_claims("test", "alice")).status == call_status::ok);
}

TEST_CASE("a gigabyte in a reducer fails the call; the instance is replaced or goes on", "[modules]") {
  identity alice = identity::from_claims("test", "alice");
  {
    running_module m(hostile_module(std::string(ok_reducer) +
                                      "buffer() { new ArrayBuffer(2 ** 30); },"
                                      "caught_buffer() { log(attempt(() => new ArrayBuffer(2 ** 30))); },"),
                     memory_limits());
    auto buffer = m.call("buffer", "", alice);
    CHECK(buffer.status == call_status::internal_error);
    CHECK(contains(buffer.message, "RangeError: Array buffer allocation failed"));
    CHECK_FALSE(m.instance->broken());  // an exception like any other
    REQUIRE(m.call("caught_buffer", "", alice).status == call_status::ok);
    CHECK(m.env.lines.back().second == "RangeError");
    CHECK(m.call("ok", "", alice).status == call_status::ok);
  }
  for (const char* reducer : {"hog() { const hoard = []; for (let i = 0; i < 128; i++) hoard.push(new Array(1 << 20).fill(i)); },",
                              "hog() { const hoard = []; for (;;) hoard.push({ n: hoard.length }); },",
                              "hog() { const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]); },"}) {
    INFO(reducer);
    running_module m(hostile_module(std::string(ok_reducer) + reducer), memory_limits());
    stopwatch clock;
    auto outcome = m.call("hog", "", alice);
    CHECK(clock.ms() < 5000);
    CHECK(outcome.status == call_status::internal_error);
    CHECK(outcome.message == "the reducer ran out of memory and was stopped (heap limit 64 MB)");
    CHECK(m.instance->broken());
  }
}

TEST_CASE("ArrayBuffers a module keeps cannot starve the host of memory for the call", "[modules]") {
  module_limits limits = tight_limits();
  limits.array_buffer_limit_bytes = std::size_t(16) << 20;
  running_module m(hostile_module(std::string(ok_reducer) +
                                    "keep() { globalThis.kept = globalThis.kept || [];"
                                    "  log(attempt(() => { for (;;) globalThis.kept.push(new ArrayBuffer(1 << 20)); }));"
                                    "  log(globalThis.kept.length); },"
                                    "encode() { log(attempt(() => new TextEncoder().encode('x'.repeat(1 << 20)))); },"),
                   limits);
  identity alice = identity::from_claims("test", "alice");
  REQUIRE(m.call("keep", "", alice).status == call_status::ok);
  REQUIRE(m.env.lines.size() >= 2);
  CHECK(m.env.lines[m.env.lines.size() - 2].second == "RangeError");
  CHECK(m.env.lines.back().second == "16");
  // The host's own buffers come from the same budget: refused, not a crash.
  REQUIRE(m.call("encode", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second == "RangeError");
  auto args = m.call("ok", std::string(64, 'x'), alice);
  CHECK(args.status == call_status::internal_error);
  CHECK(contains(args.message, "too much ArrayBuffer memory"));
  CHECK(m.instance->broken());
}

TEST_CASE("huge strings are refused or cut, never a crash", "[modules]") {
  running_module m(hostile_module(std::string(ok_reducer) +
                                    "doubling() { let s = 'x'; for (;;) s += s; },"
                                    "huge_log() { sys.console_log(2, 'y'.repeat(2 ** 24)); },"
                                    "huge_name() { log(attempt(() => sys.table_id_from_name('t'.repeat(2 ** 24)))); },"
                                    "huge_throw() { throw 'z'.repeat(2 ** 24); },"
                                    "huge_decode() { log(new TextDecoder().decode(new Uint8Array(2 ** 24).fill(65)).length); },"),
                   tight_limits());
  identity alice = identity::from_claims("test", "alice");

  auto doubling = m.call("doubling", "", alice);
  CHECK(doubling.status == call_status::internal_error);
  CHECK(contains(doubling.message, "RangeError: Invalid string length"));

  REQUIRE(m.call("huge_log", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second.size() < (std::size_t(65) << 10));
  CHECK(contains(m.env.lines.back().second, "line cut at 65536 bytes"));

  REQUIRE(m.call("huge_name", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second == "RangeError");

  auto thrown = m.call("huge_throw", "", alice);
  CHECK(thrown.status == call_status::internal_error);
  CHECK(thrown.message.size() < (std::size_t(65) << 10));

  REQUIRE(m.call("huge_decode", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second == "16777216");
  CHECK(m.call("ok", "", alice).status == call_status::ok);
}

TEST_CASE("syscalls with garbage arguments throw, never crash", "[modules]") {
  running_module m(hostile_module(std::string(ok_reducer) + R"JS(
    garbage() {
      const values = [undefined, null, true, -1, -0.5, 0.5, 2 ** 32, 2 ** 53, 1e300, NaN, Infinity, '7',
                      'x'.repeat(100000), {}, [], 7n, -(2n ** 200n), Symbol('s'), () => 0, new ArrayBuffer(0),
                      new ArrayBuffer(8), new Uint8Array(8), { toString() { return 'table'; } }];
      let made = 0, refused = 0;
      for (const name of Object.keys(sys)) {
        if (name === 'moduleHooks' || name === 'register_hooks' || typeof sys[name] !== 'function') continue;
        for (const a of values)
          for (const args of [[], [a], [a, a, a, a, a, a], [0, a, a, a, a, a], [1, new ArrayBuffer(4), a, a, a, a]]) {
            made++;
            if (attempt(() => sys[name](...args)) !== 'ok') refused++;
          }
      }
      log(`made ${made}, refused ${refused}`);
      // Lengths whose u32 sum wraps around to fit a 4-byte buffer.
      log([attempt(() => sys.datastore_index_scan_range_bsatn(1, new ArrayBuffer(4), 0xffffffff, 0, 2, 0)),
           attempt(() => sys.datastore_delete_by_index_scan_range_bsatn(1, new ArrayBuffer(4), 2, 0, 0xffffffff, 3)),
           attempt(() => sys.datastore_insert_bsatn(1, new ArrayBuffer(4), 5)),
           attempt(() => sys.datastore_insert_bsatn(1, new ArrayBuffer(4), -1)),
           attempt(() => sys.datastore_insert_bsatn(1, new ArrayBuffer(4), 2 ** 32)),
           attempt(() => sys.datastore_update_bsatn(1, 1, new ArrayBuffer(4), 4.5)),
           attempt(() => sys.datastore_index_scan_point_bsatn(1, new SharedArrayBuffer(4), 4)),
           attempt(() => sys.row_iter_bsatn_advance(12345, new ArrayBuffer(4))),
           attempt(() => sys.console_timer_end(4000000000)),
          ].join(' '));
    },)JS"),
                   tight_limits());
  auto outcome = m.call("garbage", "", identity::from_claims("test", "alice"));
  INFO(outcome.message);
  REQUIRE(outcome.status == call_status::ok);
  REQUIRE(m.env.lines.size() >= 2);
  CHECK(m.env.lines.back().second ==
        "RangeError RangeError RangeError RangeError RangeError RangeError TypeError Errno6 Errno7");
  CHECK(contains(m.env.lines[m.env.lines.size() - 2].second, "made "));
  CHECK(m.call("ok", "", identity::from_claims("test", "alice")).status == call_status::ok);
}

TEST_CASE("per-call allowances: scheduled reducers, log lines, console timers; no wasm, no Atomics.wait", "[modules]") {
  running_module m(hostile_module(std::string(ok_reducer) + R"JS(
    again() {
      let n = 0;
      while (attempt(() => sys.volatile_nonatomic_schedule_immediate('again', new Uint8Array(0))) === 'ok') n++;
      log(`scheduled ${n}`);
    },
    chatter() { for (let i = 0; i < 20000; i++) sys.console_log(2, 'line ' + i); },
    timers() {
      let n = 0;
      while (attempt(() => sys.console_timer_start('t')) === 'ok') n++;
      log(`timers ${n}`);
    },
    probe() { log([typeof WebAssembly, attempt(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0))].join(' ')); },
  )JS",
                                  "globalThis.early = attempt(() => sys.volatile_nonatomic_schedule_immediate('again', new Uint8Array(0)));"),
                   tight_limits());
  identity alice = identity::from_claims("test", "alice");
  CHECK(m.env.scheduled.empty());  // not from the top level

  REQUIRE(m.call("again", "", alice).status == call_status::ok);
  CHECK(m.env.scheduled.size() == 1024);
  CHECK(m.env.lines.back().second == "scheduled 1024");

  m.env.lines.clear();
  REQUIRE(m.call("chatter", "", alice).status == call_status::ok);
  CHECK(m.env.lines.size() == 10001);
  CHECK(m.env.lines[10000].first == log_level::warn);

  REQUIRE(m.call("timers", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second == "timers 1024");

  REQUIRE(m.call("probe", "", alice).status == call_status::ok);
  CHECK(m.env.lines.back().second == "undefined TypeError");
}

TEST_CASE("an instance started from a module's image runs like the first", "[modules]") {
  running_module first(read_bundle("chat"));
  auto image = first.instance->image();
  REQUIRE(image);
  CHECK(image->definition == first.instance->definition());
  CHECK(!image->code_cache.empty());
  CHECK(!image->utf16.empty());  // the library has non-ASCII text: its isolates read the UTF-16 copy
  auto second = module_instance::start(image, first.env);
  INFO((second.ok() ? std::string() : second.error().message));
  REQUIRE(second.ok());
  CHECK_FALSE((*second)->cache_rejected());  // it compiled from the cache
  CHECK((*second)->image() == image);
  // The started instance calls reducers against the same tables.
  (*second)->bind(*first.ds, first.names);
  auto send = first.def.reducer_id("send_message");
  REQUIRE(send);
  auto tx = first.ds->begin();
  auto outcome = (*second)->call_reducer(*send, identity::from_claims("test", "alice"), connection_id::random(), 1,
                                         encode_value(product_value{{std::string("from a started instance")}}), tx);
  INFO(outcome.message);
  REQUIRE(outcome.status == call_status::ok);
  tx.commit();
  CHECK(first.ds->find_table("message")->row_count() == 1);
  // A cache V8 cannot use is refused, not trusted, and the instance carries
  // a renewed image with a cache of its own.
  auto stale = std::make_shared<module_image>(*image);
  stale->code_cache.assign(image->code_cache.size(), '\x01');
  auto renewed = module_instance::start(stale, first.env);
  REQUIRE(renewed.ok());
  CHECK((*renewed)->cache_rejected());
  REQUIRE((*renewed)->image() != stale);
  CHECK(!(*renewed)->image()->code_cache.empty());
  CHECK((*renewed)->image()->code_cache != stale->code_cache);
}

TEST_CASE("a module's UTF-8 source becomes the UTF-16 V8 would make of it", "[modules]") {
  auto utf16 = [](std::initializer_list<unsigned> bytes) {
    std::string text;
    for (unsigned b : bytes) text.push_back(char(b));
    return utf16_of(text);
  };
  // Expected values are what a WHATWG decoder (TextDecoder) gives.
  CHECK(utf16({0x41}) == u"A");
  CHECK(utf16({0xE2, 0x82, 0xAC}) == u"\u20AC");
  CHECK(utf16({0xF0, 0x9F, 0x98, 0x80}) == u"\U0001F600");
  CHECK(utf16({0xE2, 0x82}) == u"\uFFFD");                 // cut short: one replacement
  CHECK(utf16({0xE2, 0x82, 0x41}) == u"\uFFFDA");          // broken: the breaking byte starts afresh
  CHECK(utf16({0xF0, 0x9F, 0x98}) == u"\uFFFD");
  CHECK(utf16({0xE0, 0xA0, 0x41}) == u"\uFFFDA");
  CHECK(utf16({0xC0, 0x80}) == u"\uFFFD\uFFFD");           // overlong
  CHECK(utf16({0xED, 0xA0, 0x80}) == u"\uFFFD\uFFFD\uFFFD");  // a surrogate
  CHECK(utf16({0xF4, 0x90, 0x80, 0x80}) == u"\uFFFD\uFFFD\uFFFD\uFFFD");  // past U+10FFFF
  CHECK(utf16({0xF0, 0x80, 0x80}) == u"\uFFFD\uFFFD\uFFFD");
  CHECK(utf16({0x80, 0x41}) == u"\uFFFDA");
}

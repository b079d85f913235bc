// Modules written with the spacetimedb library, run in V8 against a datastore.

#include "modules/module_def.hpp"
#include "modules/module_host.hpp"
#include "runtime/bsatn.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace orrery;

namespace {

std::string read_bundle(const std::string& name) {
  std::ifstream in(std::string(ORRERY_BUNDLE_DIR) + "/" + name + ".js");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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

  explicit running_module(const std::string& bundle, module_limits limits = {}) {
    auto loaded = module_instance::load(bundle, env, limits);
    REQUIRE(loaded.ok());
    instance = std::move(*loaded);
    auto decoded = decode_module_def(instance->definition());
    INFO((decoded.ok() ? std::string() : decoded.error().message));
    REQUIRE(decoded.ok());
    def = std::move(*decoded);
    ds = std::move(*datastore::open(nullptr, nullptr, 1));
    name_bindings names;
    for (std::size_t i = 0; i < def.tables.size(); ++i) {
      auto id = ds->create_table(def.tables[i]);
      REQUIRE(id.ok());
      names.tables[def.tables[i].name] = *id;
      names.tables[def.table_sources[i]] = *id;
      const table* t = ds->find_table(*id);
      for (std::size_t k = 0; k < t->schema().indexes.size(); ++k) {
        names.indexes[t->schema().indexes[k].name] = t->schema().indexes[k].id;
        names.indexes[def.index_sources[i][k]] = t->schema().indexes[k].id;
      }
    }
    instance->bind(*ds, std::move(names));
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

#include "actors/database_actor.hpp"

#include "modules/module_def.hpp"
#include "modules/module_host.hpp"
#include "runtime/bsatn.hpp"
#include "runtime/committer.hpp"
#include "runtime/datastore.hpp"
#include "runtime/sats_json.hpp"
#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/store.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <deque>
#include <map>

namespace orrery {
namespace {

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

const char* level_name(log_level level) {
  switch (level) {
    case log_level::error: return "Error";
    case log_level::warn: return "Warn";
    case log_level::info: return "Info";
    case log_level::debug: return "Debug";
    case log_level::trace: return "Trace";
    case log_level::panic: return "Panic";
  }
  return "Info";
}

call_result result_of(call_result_kind kind, std::string message = {}) { return {kind, std::move(message), now_micros()}; }

struct database_state : module_environment {
  database_actor::pointer self = nullptr;
  database_context context;
  database_record record;
  std::string bundle;
  std::unique_ptr<datastore> ds;
  std::unique_ptr<module_instance> module;
  module_def def;
  name_bindings names;

  // Replies wait for their commit to be durable. Commits become durable in
  // order, so the committer's thread only records how far it got and wakes
  // the actor once per batch of commits, not once per commit.
  struct durability_tracker {
    std::atomic<std::uint64_t> durable_upto{0};
    std::atomic<bool> wake_pending{false};
  };
  std::shared_ptr<durability_tracker> tracker = std::make_shared<durability_tracker>();
  std::deque<std::pair<std::uint64_t, std::function<void()>>> waiting;  // run once durable, in order
  std::uint64_t next_ticket = 1;
  std::map<std::pair<table_id, std::string>, std::uint64_t> schedules;  // row -> current generation
  std::uint64_t next_generation = 1;
  std::vector<std::pair<std::string, std::string>> immediate;  // reducers to run after this call
  sql::settings sql_settings;

  // ---- module_environment ----
  void log(log_level level, std::string_view message) override {
    log_record line{level_name(level), now_micros(), record.display_name(), "", 0, "", std::string(message)};
    caf::anon_send(context.logs, append_atom::value, record.id, std::move(line));
  }
  identity database_identity() const override { return record.database_identity; }
  std::string jwt_payload(const connection_id&) const override { return {}; }
  void schedule_immediate(std::string name, std::string args) override {
    immediate.emplace_back(std::move(name), std::move(args));
  }

  void system_log(const std::string& message, const char* level = "Info") {
    caf::anon_send(context.logs, append_atom::value, record.id,
                   log_record{level, now_micros(), "orrery", "", 0, "", message});
  }

  // ---- loading ----

  result<done> open_datastore() {
    if (ds) return done{};
    auto opened = datastore::open(context.db, context.durability, record.id);
    if (!opened) return opened.error();
    ds = std::move(*opened);
    if (auto limit = context.db ? context.db->get(setting_key("row_limit")) : std::nullopt; limit && limit->size() == 8)
      sql_settings.row_limit = read_u64(*limit);
    return done{};
  }

  std::string setting_key(const std::string& name) const {
    std::string key = "d/";
    append_u64(key, record.id);
    return key + "/v/" + name;
  }

  void sql(const identity& caller, bool owner, const std::string& query, caf::typed_response_promise<sql_reply>& reply) {
    auto started = std::chrono::steady_clock::now();
    if (auto woke = wake(); !woke) {
      reply.deliver(sql_reply{500, woke.error().message});
      return;
    }
    auto parsed = sql::parse(query);
    if (!parsed) {
      reply.deliver(sql_reply{400, parsed.error().message});
      return;
    }
    auto tx = ds->begin();
    std::uint64_t limit_before = sql_settings.row_limit;
    auto ran = sql::run(*ds, tx, *parsed, sql::caller{caller, owner}, sql_settings);
    if (!ran) {
      tx.rollback();
      reply.deliver(sql_reply{400, ran.error().message});
      return;
    }
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    sql_reply answer{200, sql::response_json(*ran, micros.count())};
    if (!parsed->writes()) {
      tx.rollback();
      reply.deliver(answer);
      return;
    }
    if (sql_settings.row_limit != limit_before && context.db) {
      write_batch batch;
      std::string value;
      append_u64(value, sql_settings.row_limit);
      batch.put(setting_key("row_limit"), value);
      (void)context.db->write(batch, true);
    }
    system_log("SQL by " + caller.to_hex() + ": " + query + " (" + std::to_string(ran->rows_inserted) + " inserted, " +
               std::to_string(ran->rows_updated) + " updated, " + std::to_string(ran->rows_deleted) + " deleted)");
    commit(tx, [reply, answer]() mutable { reply.deliver(answer); });
  }

  result<std::unique_ptr<module_instance>> load_instance(const std::string& code, module_def& decoded) {
    module_limits limits;
    limits.reducer_budget = context.reducer_budget;
    limits.heap_limit_bytes = context.heap_limit_bytes;
    auto loaded = module_instance::load(code, *this, limits);
    if (!loaded) return loaded.error();
    auto parsed = decode_module_def((*loaded)->definition());
    if (!parsed) return parsed.error();
    decoded = std::move(*parsed);
    return std::move(*loaded);
  }

  /// Makes the datastore's tables match `wanted`: creates missing tables and
  /// refuses changed ones (schema migration beyond adding tables comes later).
  result<done> ensure_tables(const module_def& wanted) {
    for (auto& schema : wanted.tables) {
      const table* existing = ds->find_table(schema.name);
      if (!existing) {
        auto created = ds->create_table(schema);
        if (!created) return created.error();
        continue;
      }
      const table_schema& have = existing->schema();
      bool same = have.columns.size() == schema.columns.size() && have.primary_key == schema.primary_key;
      for (std::size_t i = 0; same && i < have.columns.size(); ++i)
        same = have.columns[i].name == schema.columns[i].name && have.columns[i].type == schema.columns[i].type;
      if (!same)
        return fail(errc::invalid_argument, "Database update rejected: the columns of table `" + schema.name +
                                              "` changed; publish with --delete-data to start over");
    }
    return done{};
  }

  void bind_names() {
    names = {};
    for (std::size_t i = 0; i < def.tables.size(); ++i) {
      const table* t = ds->find_table(def.tables[i].name);
      if (!t) continue;
      names.tables[def.tables[i].name] = t->schema().id;
      names.tables[def.table_sources[i]] = t->schema().id;
      for (std::size_t k = 0; k < def.tables[i].indexes.size(); ++k) {
        const index_schema* ix = t->schema().index_named(def.tables[i].indexes[k].name);
        if (!ix) continue;
        names.indexes[ix->name] = ix->id;
        names.indexes[def.index_sources[i][k]] = ix->id;
      }
    }
    module->bind(*ds, names);
  }

  /// Opens the datastore and module if not yet done (a sleeping database wakes here).
  result<done> wake() {
    if (module && !module->broken()) return done{};
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(bundle, decoded);
    if (!loaded) return loaded.error();
    bool first_wake = !module;
    module = std::move(*loaded);
    def = std::move(decoded);
    if (auto ensured = ensure_tables(def); !ensured) return ensured;
    bind_names();
    if (first_wake) arm_all_schedules();
    return done{};
  }

  // ---- schedules ----

  void arm(const table& t, std::string_view row) {
    const table_schema& schema = t.schema();
    if (!schema.schedule) return;
    std::vector<std::uint32_t> offsets;
    std::int64_t delay_micros = 0;
    try {
      t.column_offsets(row, offsets);
      bsatn_reader in(row.substr(offsets[schema.schedule->at_column]));
      std::uint8_t tag = in.u8();
      std::int64_t micros = in.fixed<std::int64_t>();
      delay_micros = tag == 0 ? micros : micros - now_micros();
    } catch (const bsatn_error&) {
      return;
    }
    std::uint64_t generation = next_generation++;
    auto key = std::make_pair(schema.id, std::string(row));
    schedules[key] = generation;
    self->delayed_send(self, std::chrono::microseconds(std::max<std::int64_t>(0, delay_micros)),
                       schedule_atom::value, schema.id, key.second, generation);
  }

  void arm_all_schedules() {
    for (const table* t : ds->tables())
      if (t->schema().schedule) t->scan([&](row_id r) { arm(*t, t->row(r)); });
  }

  void apply_schedule_changes(const commit_result& committed) {
    for (auto& update : committed.updates) {
      const table* t = ds->find_table(update.table);
      if (!t || !t->schema().schedule) continue;
      for (auto& row : update.deletes) schedules.erase({update.table, row});
      for (auto& row : update.inserts) arm(*t, row);
    }
  }

  // ---- calls ----

  /// Commits `tx`; `when_durable` runs on this actor once the commit is on disk.
  commit_result commit(transaction& tx, std::function<void()> when_durable) {
    std::function<void()> on_durable;
    if (when_durable) {
      std::uint64_t ticket = next_ticket++;
      waiting.emplace_back(ticket, std::move(when_durable));
      auto handle = caf::actor_cast<database_actor>(self);
      on_durable = [handle, tracker = tracker, ticket] {
        tracker->durable_upto.store(ticket, std::memory_order_release);
        if (!tracker->wake_pending.exchange(true)) caf::anon_send(handle, durable_atom::value, ticket);
      };
    }
    commit_result committed = tx.commit(std::move(on_durable));
    apply_schedule_changes(committed);
    return committed;
  }

  /// Commits `tx` and answers `reply` with `outcome` once the commit is durable.
  void commit(transaction& tx, call_result outcome, caf::typed_response_promise<call_result>* reply) {
    std::function<void()> answer;
    if (reply) answer = [reply = *reply, outcome = std::move(outcome)]() mutable { reply.deliver(outcome); };
    commit(tx, std::move(answer));
  }

  /// Runs reducer `id` in its own transaction. The reply (if any) is sent
  /// when the commit is durable, or at once for a failure.
  call_result run(std::uint32_t id, const identity& sender, const connection_id& connection, std::int64_t timestamp,
                  std::string_view args, caf::typed_response_promise<call_result>* reply) {
    const reducer_def& reducer = def.reducers[id];
    auto tx = ds->begin();
    call_outcome outcome = module->call_reducer(id, sender, connection, timestamp, args, tx);
    if (outcome.status == call_status::ok) {
      call_result ok = result_of(call_result_kind::ok);
      ok.timestamp_micros = timestamp;
      commit(tx, ok, reply);
      run_immediate();
      return ok;
    }
    tx.rollback();
    immediate.clear();
    call_result failed = result_of(outcome.status == call_status::user_error ? call_result_kind::user_error
                                                                            : call_result_kind::internal_error,
                                   outcome.message);
    if (outcome.status == call_status::internal_error)
      log(log_level::error, "reducer `" + reducer.name + "` failed: " + outcome.message);
    if (module->broken()) {
      system_log("Reloading the module after reducer `" + reducer.name + "` was stopped", "Warn");
      module.reset();  // the next call loads a fresh isolate
      if (auto woke = wake(); !woke) system_log("Reloading the module failed: " + woke.error().message, "Error");
    }
    if (reply) reply->deliver(failed);
    return failed;
  }

  void run_immediate() {
    auto queued = std::move(immediate);
    immediate.clear();
    for (auto& [name, args] : queued)
      if (auto id = def.reducer_id(name)) run(*id, record.database_identity, connection_id{}, now_micros(), args, nullptr);
  }

  call_result call(const reducer_call& req, caf::typed_response_promise<call_result>& reply) {
    if (auto woke = wake(); !woke) {
      auto r = result_of(call_result_kind::internal_error, woke.error().message);
      reply.deliver(r);
      return r;
    }
    auto id = def.reducer_id(req.reducer);
    if (!id) {
      auto r = result_of(call_result_kind::no_such_reducer, "no such reducer: `" + req.reducer + "`");
      reply.deliver(r);
      return r;
    }
    const reducer_def& reducer = def.reducers[*id];
    if (reducer.kind != lifecycle::none) {
      auto r = result_of(call_result_kind::bad_arguments, "`" + reducer.name + "` is a lifecycle reducer and cannot be called");
      reply.deliver(r);
      return r;
    }
    std::string args = req.args;
    if (req.args_are_json) {
      auto parsed = from_sats_json(reducer.params, req.args.empty() ? std::string("[]") : req.args);
      if (!parsed) {
        auto r = result_of(call_result_kind::bad_arguments,
                           "invalid arguments for reducer `" + reducer.name + "`: " + parsed.error().message);
        reply.deliver(r);
        return r;
      }
      args = encode_value(*parsed);
    } else if (auto problem = validate(reducer.params, args)) {
      auto r = result_of(call_result_kind::bad_arguments, "invalid arguments for reducer `" + reducer.name + "`: " + *problem);
      reply.deliver(r);
      return r;
    }
    connection_id connection = req.connection;
    if (req.wrap_in_connection) {
      connection = connection_id::random();
      if (auto on_connect = def.lifecycle_reducer(lifecycle::on_connect)) {
        call_result connected = run(*on_connect, req.caller, connection, now_micros(), "", nullptr);
        if (connected.kind != call_result_kind::ok) {
          reply.deliver(connected);
          return connected;
        }
      }
    }
    if (!req.wrap_in_connection) return run(*id, req.caller, connection, now_micros(), args, &reply);
    call_result outcome = run(*id, req.caller, connection, now_micros(), args, nullptr);
    auto on_disconnect = def.lifecycle_reducer(lifecycle::on_disconnect);
    // The reply waits for the last commit: commits become durable in order.
    if (on_disconnect) {
      auto tx = ds->begin();
      call_outcome done = module->call_reducer(*on_disconnect, req.caller, connection, now_micros(), "", tx);
      if (done.status == call_status::ok) {
        commit(tx, outcome, &reply);
        return outcome;
      }
      tx.rollback();
      log(log_level::error, "client_disconnected failed: " + done.message);
    }
    if (outcome.kind == call_result_kind::ok) {
      auto tx = ds->begin();
      commit(tx, outcome, &reply);  // an empty commit: durable after everything before it
    } else {
      reply.deliver(outcome);
    }
    return outcome;
  }

  // ---- create / update ----

  result<done> create() {
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(bundle, decoded);
    if (!loaded) return loaded.error();
    module = std::move(*loaded);
    def = std::move(decoded);
    if (auto ensured = ensure_tables(def); !ensured) return ensured;
    bind_names();
    if (auto init = def.lifecycle_reducer(lifecycle::init)) {
      call_result ran = run(*init, record.owner, connection_id{}, now_micros(), "", nullptr);
      if (ran.kind != call_result_kind::ok)
        return fail(errc::invalid_argument, "the module's init reducer failed: " + ran.message);
    }
    arm_all_schedules();
    return done{};
  }

  result<done> update(const std::string& code, bool clear) {
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(code, decoded);
    if (!loaded) return loaded.error();
    if (clear) {
      for (const table* t : ds->tables()) (void)ds->drop_table(t->schema().id);
      schedules.clear();
    }
    if (auto ensured = ensure_tables(decoded); !ensured) return ensured;
    module = std::move(*loaded);
    def = std::move(decoded);
    bundle = code;
    bind_names();
    if (clear) {
      if (auto init = def.lifecycle_reducer(lifecycle::init)) {
        call_result ran = run(*init, record.owner, connection_id{}, now_micros(), "", nullptr);
        if (ran.kind != call_result_kind::ok)
          return fail(errc::invalid_argument, "the module's init reducer failed: " + ran.message);
      }
      arm_all_schedules();
    }
    return done{};
  }

  void fire_schedule(table_id table, const std::string& row, std::uint64_t generation) {
    auto it = schedules.find({table, row});
    if (it == schedules.end() || it->second != generation) return;  // cancelled or re-armed
    if (!wake()) return;
    const struct table* t = ds->find_table(table);
    if (!t || !t->schema().schedule) return;
    auto present = t->find_conflict(row);
    if (!present || present->index) {
      schedules.erase(it);
      return;
    }
    auto id = def.reducer_id(t->schema().schedule->reducer);
    if (!id) return;
    bool one_shot = false;
    std::vector<std::uint32_t> offsets;
    t->column_offsets(row, offsets);
    one_shot = row[offsets[t->schema().schedule->at_column]] == 1;
    call_result ran = run(*id, record.database_identity, connection_id{}, now_micros(), row, nullptr);
    if (one_shot) {
      auto tx = ds->begin();
      (void)tx.delete_row(table, row);
      commit(tx, ran, nullptr);
    } else if (schedules.count({table, row}) && schedules[{table, row}] == generation) {
      arm(*t, row);  // intervals repeat while their row exists
    }
  }
};

using self_ptr = database_actor::stateful_pointer<database_state>;

} // namespace

database_actor spawn_database_actor(caf::actor_system& system, const database_context& context,
                                    database_record record, std::string bundle) {
  return system.spawn<caf::detached>([context, record, bundle](self_ptr self) -> database_actor::behavior_type {
    auto& st = self->state;
    st.self = self;
    st.context = context;
    st.record = record;
    st.bundle = bundle;
    return {
      [=](create_atom) -> caf::result<bool> {
        auto created = self->state.create();
        if (!created) return make_error(host_errc::invalid_argument, created.error().message);
        return true;
      },
      [=](update_atom, const std::string& code, bool clear) -> caf::result<bool> {
        auto updated = self->state.update(code, clear);
        if (!updated) return make_error(host_errc::invalid_argument, updated.error().message);
        return true;
      },
      [=](call_atom, const reducer_call& req) {
        auto reply = self->make_response_promise<call_result>();
        self->state.call(req, reply);
        return reply;
      },
      [=](sql_atom, const identity& caller, bool owner, const std::string& query) {
        auto reply = self->make_response_promise<sql_reply>();
        self->state.sql(caller, owner, query, reply);
        return reply;
      },
      [=](describe_atom) -> caf::result<std::string> {
        if (auto woke = self->state.wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
        return module_def_json(self->state.def);
      },
      [=](stop_atom) {
        if (self->state.context.durability) self->state.context.durability->flush();
        self->quit();
        return true;
      },
      [=](durable_atom, std::uint64_t) {
        auto& st = self->state;
        st.tracker->wake_pending.store(false);
        std::uint64_t upto = st.tracker->durable_upto.load(std::memory_order_acquire);
        while (!st.waiting.empty() && st.waiting.front().first <= upto) {
          st.waiting.front().second();
          st.waiting.pop_front();
        }
      },
      [=](schedule_atom, std::uint32_t table, const std::string& row, std::uint64_t generation) {
        self->state.fire_schedule(table, row, generation);
      },
    };
  });
}

} // namespace orrery

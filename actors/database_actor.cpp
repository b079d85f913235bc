#include "actors/database_actor.hpp"

#include "modules/module_def.hpp"
#include "modules/module_host.hpp"
#include "runtime/sql/engine.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/sql/subscription.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <sstream>

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

// Queries one client may subscribe to across all its query sets (one
// Subscribe names at most max_queries_per_subscribe: client_protocol.hpp).
constexpr std::size_t max_queries_per_client = 1024;
// Reducers one call may set off by scheduling each other to run at once,
// directly or in a chain: a reducer that schedules itself stops here.
constexpr std::size_t max_chain_runs = 1024;
// A repeating schedule fires at most this often: an interval of zero would
// keep the database busy with nothing but its schedule.
constexpr std::int64_t min_interval_micros = 1000;

struct database_state : module_environment {
  database_actor::pointer self = nullptr;
  database_context context;
  database_record record;
  std::string bundle;
  std::unique_ptr<datastore> ds;
  bool after_crash = false;  // see spawn_database_actor
  std::unique_ptr<module_instance> module;
  module_def def;
  name_bindings names;

  // Replies wait for their commit to be durable. Commits become durable in
  // order, so the committer's thread only records how far it got and wakes
  // the actor once per batch of commits, not once per commit.
  struct durability_tracker {
    std::atomic<std::uint64_t> durable_upto{0};
    std::atomic<std::uint64_t> failed_upto{0};  // commits the store could not write
    std::atomic<bool> wake_pending{false};
  };
  std::shared_ptr<durability_tracker> tracker = std::make_shared<durability_tracker>();
  // Run once their commit is durable (failure null) or could not be written.
  using durable_waiter = std::function<void(const std::string* failure)>;
  std::deque<std::pair<std::uint64_t, durable_waiter>> waiting;
  // Set once a write to disk failed: the database answers reads and refuses writes.
  std::optional<std::string> read_only;
  std::uint64_t next_ticket = 1;
  struct armed_schedule {
    std::uint64_t generation;  // a timer of an older generation was cancelled or re-armed
    std::int64_t due_micros;
  };
  std::map<std::pair<table_id, std::string>, armed_schedule> schedules;  // by row
  std::uint64_t next_generation = 1;
  bool schedules_armed = false;
  // Reducers scheduled "at once" form chains from the call that began them;
  // a chain runs at most max_chain_runs reducers.
  struct chain {
    std::size_t runs_left = max_chain_runs;
    std::size_t queued = 0;
  };
  std::map<std::uint64_t, chain> chains;
  std::uint64_t current_chain = 0;  // while a scheduled-now reducer runs
  std::uint64_t next_chain = 1;
  std::deque<std::pair<std::string, std::string>> immediate;  // reducers the current call scheduled at once
  sql::settings sql_settings;
  sql::limits sql_limits;
  // An awake database with no clients and nothing in flight for the idle
  // timeout falls asleep (fall_asleep).
  std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();
  bool idle_check_armed = false;

  // WebSocket clients and their subscriptions. Identical queries are compiled
  // and evaluated once per commit, whoever subscribed to them.
  struct client {
    client_sink sink;
    identity id;
    connection_id connection;
    std::string jwt;
    bool confirmed = true;  // updates wait for durability
    std::map<std::uint32_t, std::vector<std::string>> query_sets;  // plan keys per query set
    std::size_t subscribed_queries = 0;
  };
  std::map<std::string, client> clients;  // by connection id (hex)
  struct shared_query {
    std::shared_ptr<sql::subscription_query> query;
    std::set<std::pair<std::string, std::uint32_t>> users;  // (connection, query set)
  };
  std::map<std::string, shared_query> queries;  // by plan_key

  /// Subscribers share a plan only when the query means the same for them: a
  /// query naming `:sender` is bound to each subscriber's own identity.
  static std::string plan_key(const client& c, const std::string& text) {
    if (text.find(":sender") == std::string::npos) return text;
    return text + '\n' + c.id.to_hex();
  }

  // ---- module_environment ----
  void log(log_level level, std::string_view message) override {
    log_record line{level_name(level), now_micros(), record.display_name(), "", 0, "", std::string(message)};
    caf::anon_send(context.logs, append_atom::value, record.id, std::move(line));
  }
  identity database_identity() const override { return record.database_identity; }
  std::string jwt_payload(const connection_id& connection) const override {
    auto it = clients.find(connection.to_hex());
    return it == clients.end() ? std::string() : it->second.jwt;
  }
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
    // A database started again after a crash reads what its last run
    // submitted. One that slept had nothing in flight (idle()): no wait.
    if (after_crash && context.durability) context.durability->flush();
    after_crash = false;
    auto opened = datastore::open(context.db, context.durability, record.id);
    if (!opened) return opened.error();
    ds = std::move(*opened);
    auto limit = context.db ? context.db->get(keys::row_limit(record.id)) : std::nullopt;
    if (limit && limit->size() == 8) sql_settings.row_limit = read_u64(*limit);
    return done{};
  }

  void sql(const identity& caller, bool owner, const std::string& query, caf::typed_response_promise<sql_reply>& reply) {
    auto started = std::chrono::steady_clock::now();
    if (auto woke = wake(); !woke) {
      reply.deliver(sql_reply{500, woke.error().message});
      return;
    }
    auto parsed = sql::parse(query, sql_limits);
    if (!parsed) {
      reply.deliver(sql_reply{400, parsed.error().message});
      return;
    }
    auto tx = ds->begin();
    std::uint64_t limit_before = sql_settings.row_limit;
    auto ran = sql::run(*ds, tx, *parsed, sql::caller{caller, owner}, sql_settings, sql_limits);
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
    if (auto refused = refuse_writes()) {
      tx.rollback();
      reply.deliver(sql_reply{503, *refused});
      return;
    }
    if (sql_settings.row_limit != limit_before && context.db) {
      write_batch batch;
      std::string value;
      append_u64(value, sql_settings.row_limit);
      batch.put(keys::row_limit(record.id), value);
      (void)context.db->write(batch, true);
    }
    system_log("SQL by " + caller.to_hex() + ": " + query + " (" + std::to_string(ran->rows_inserted) + " inserted, " +
               std::to_string(ran->rows_updated) + " updated, " + std::to_string(ran->rows_deleted) + " deleted)");
    commit(tx, [reply, answer]() mutable { reply.deliver(answer); }, {}, {},
           [reply](const std::string& why) mutable {
             reply.deliver(sql_reply{500, "the statement's changes could not be written to disk: " + why});
           });
  }

  module_limits limits() const {
    module_limits out;
    out.reducer_budget = context.reducer_budget;
    out.heap_limit_bytes = context.heap_limit_bytes;
    return out;
  }

  result<std::unique_ptr<module_instance>> load_instance(const std::string& code, module_def& decoded) {
    auto loaded = module_instance::load(code, *this, limits());
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

  /// The ids in `store` of the tables and indexes `wanted` names.
  static name_bindings bindings_for(const module_def& wanted, const datastore& store) {
    name_bindings out;
    for (std::size_t i = 0; i < wanted.tables.size(); ++i) {
      const table* t = store.find_table(wanted.tables[i].name);
      if (!t) continue;
      out.tables[wanted.tables[i].name] = t->schema().id;
      out.tables[wanted.table_sources[i]] = t->schema().id;
      for (std::size_t k = 0; k < wanted.tables[i].indexes.size(); ++k) {
        const index_schema* ix = t->schema().index_named(wanted.tables[i].indexes[k].name);
        if (!ix) continue;
        out.indexes[ix->name] = ix->id;
        out.indexes[wanted.index_sources[i][k]] = ix->id;
      }
    }
    return out;
  }

  void bind_names() {
    names = bindings_for(def, *ds);
    module->bind(*ds, names);
  }

  /// Opens the datastore and module if not yet done (a sleeping database wakes here).
  result<done> wake() {
    if (module && !module->broken()) return done{};
    if (!ds) system_log("Awake");
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(bundle, decoded);
    if (!loaded) return loaded.error();

    module = std::move(*loaded);
    def = std::move(decoded);
    if (auto ensured = ensure_tables(def); !ensured) return ensured;
    bind_names();
    if (!schedules_armed) arm_all_schedules();
    return done{};
  }

  // ---- sleep ----

  /// Notes a message that keeps the database awake; an idle check follows.
  void touch() {
    last_active = std::chrono::steady_clock::now();
    arm_idle_check(context.idle_timeout);
  }

  void arm_idle_check(std::chrono::steady_clock::duration after) {
    if (idle_check_armed || context.idle_timeout.count() == 0) return;
    idle_check_armed = true;
    self->delayed_send(self, after, idle_atom::value);
  }

  bool idle() const { return clients.empty() && waiting.empty() && chains.empty() && immediate.empty(); }

  void check_idle() {
    idle_check_armed = false;
    auto quiet = std::chrono::steady_clock::now() - last_active;
    if (quiet < context.idle_timeout) return arm_idle_check(context.idle_timeout - quiet);
    if (!idle()) return arm_idle_check(context.idle_timeout);
    fall_asleep();
  }

  /// Ends the actor, and with it the isolate and the tables in memory, once
  /// everything it wrote is on disk (table changes outside calls included), so
  /// that its next actor reads without waiting. The registry keeps the next
  /// schedule's due time and wakes the database for it; an actor that never
  /// armed the schedules (its module did not load) leaves the due time as it was.
  void fall_asleep() {
    std::int64_t next_due = schedules_armed ? 0 : unchanged_due;
    for (auto& [row, armed] : schedules)
      if (next_due == 0 || armed.due_micros < next_due) next_due = std::max<std::int64_t>(1, armed.due_micros);
    auto seconds = std::chrono::duration<double>(context.idle_timeout).count();
    std::ostringstream why;
    why << "Asleep after " << seconds << " s without clients or calls; the next request wakes it"
        << (next_due > 0 ? ", and so does its next schedule" : "");
    system_log(why.str());
    if (schedules_armed) keep_sleeping_schedules();
    module.reset();  // freed before the registry hears, so that it can give the memory back
    ds.reset();
    if (context.durability) context.durability->flush();
    self->send(context.sleeps, sleep_atom::value, record.id, next_due);
    self->quit();
  }

  // ---- schedules ----

  /// Arms `row`'s timer; a repeating schedule resumed after sleep keeps the
  /// due time it had (`resumed_due`), rather than starting a new interval.
  void arm(const table& t, std::string_view row, std::int64_t resumed_due = 0) {
    const table_schema& schema = t.schema();
    if (!schema.schedule) return;
    std::vector<std::uint32_t> offsets;
    std::int64_t delay_micros = 0;
    try {
      t.column_offsets(row, offsets);
      bsatn_reader in(row.substr(offsets[schema.schedule->at_column]));
      std::uint8_t tag = in.u8();
      std::int64_t micros = in.fixed<std::int64_t>();
      bool repeats = tag == 0;
      delay_micros = repeats ? std::max(micros, min_interval_micros) : micros - now_micros();
      if (repeats && resumed_due) delay_micros = resumed_due - now_micros();
    } catch (const bsatn_error&) {
      return;
    }
    std::uint64_t generation = next_generation++;
    auto key = std::make_pair(schema.id, std::string(row));
    delay_micros = std::max<std::int64_t>(0, delay_micros);
    schedules[key] = {generation, now_micros() + delay_micros};
    self->delayed_send(self, std::chrono::microseconds(delay_micros), schedule_atom::value, schema.id, key.second,
                       generation);
  }

  void arm_all_schedules() {
    schedules_armed = true;
    auto resumed = take_sleeping_schedules();
    for (const table* t : ds->tables())
      if (t->schema().schedule)
        t->scan([&](row_id r) {
          auto due = resumed.find({t->schema().id, std::string(t->row(r))});
          arm(*t, t->row(r), due == resumed.end() ? 0 : due->second);
        });
  }

  /// Keeps the due times of the armed schedules while the database sleeps:
  /// table id, row length, row, due (µs since the epoch) for each.
  void keep_sleeping_schedules() {
    if (!context.db || schedules.empty()) return;
    std::string kept;
    for (auto& [key, armed] : schedules) {
      append_u64(kept, key.first);
      append_u64(kept, key.second.size());
      kept += key.second;
      append_u64(kept, std::uint64_t(armed.due_micros));
    }
    write_batch batch;
    batch.put(keys::sleeping_schedules(record.id), kept);
    (void)context.db->write(batch, false);  // lost in a crash, intervals start over from the wake
  }

  std::map<std::pair<table_id, std::string>, std::int64_t> take_sleeping_schedules() {
    std::map<std::pair<table_id, std::string>, std::int64_t> out;
    auto kept = context.db ? context.db->get(keys::sleeping_schedules(record.id)) : std::nullopt;
    if (!kept) return out;
    std::string_view in = *kept;
    while (in.size() >= 16) {
      auto table = table_id(read_u64(in.substr(0, 8)));
      std::uint64_t length = read_u64(in.substr(8, 8));
      if (in.size() - 16 < length + 8) break;
      out[{table, std::string(in.substr(16, length))}] = std::int64_t(read_u64(in.substr(16 + length, 8)));
      in.remove_prefix(16 + length + 8);
    }
    write_batch batch;
    batch.erase(keys::sleeping_schedules(record.id));
    (void)context.db->write(batch, false);
    return out;
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

  /// The changes a commit makes to every subscribed query set, per client.
  std::map<std::string, std::vector<query_set_changes>> fan_out(const commit_result& committed) {
    std::map<std::string, std::vector<query_set_changes>> out;
    for (auto& [text, q] : queries) {
      if (q.users.empty()) continue;
      std::vector<std::string> inserts, deletes;
      q.query->delta(committed, inserts, deletes);
      if (inserts.empty() && deletes.empty()) continue;
      for (auto& [connection, set_id] : q.users) {
        auto& sets = out[connection];
        auto set = std::find_if(sets.begin(), sets.end(), [&](auto& x) { return x.query_set_id == set_id; });
        if (set == sets.end()) set = sets.insert(sets.end(), query_set_changes{set_id, {}});
        auto table = std::find_if(set->tables.begin(), set->tables.end(),
                                  [&](auto& t) { return t.table == q.query->table_name(); });
        if (table == set->tables.end()) table = set->tables.insert(set->tables.end(), table_changes{q.query->table_name(), {}, {}});
        table->inserts.insert(table->inserts.end(), inserts.begin(), inserts.end());
        table->deletes.insert(table->deletes.end(), deletes.begin(), deletes.end());
      }
    }
    return out;
  }

  /// Why writes are refused, once a write to disk failed.
  std::optional<std::string> refuse_writes() {
    if (!read_only && context.durability)
      if (auto failure = context.durability->failure()) enter_read_only(*failure);
    if (!read_only) return std::nullopt;
    return "the database is read-only since a write to disk failed (" + *read_only + ")";
  }

  void enter_read_only(const std::string& why) {
    if (read_only) return;
    read_only = why;
    system_log("The database is read-only: writing to disk failed (" + why +
                 "). Calls that change data are refused; restart the host once the disk has room.",
               "Error");
  }

  /// Fails everything still waiting for a commit: the database is going away.
  void fail_waiting(const std::string& why) {
    auto pending = std::move(waiting);
    waiting.clear();
    for (auto& [ticket, then] : pending)
      if (then) then(&why);
  }

  /// Answers what waited for commits the store has now written, or failed to.
  void answer_waiting() {
    std::uint64_t durable = tracker->durable_upto.load(std::memory_order_acquire);
    std::uint64_t failed = tracker->failed_upto.load(std::memory_order_acquire);
    while (!waiting.empty() && waiting.front().first <= std::max(durable, failed)) {
      auto then = std::move(waiting.front().second);
      bool written = waiting.front().first <= durable;
      waiting.pop_front();
      if (!written) enter_read_only(context.durability->failure().value_or("unknown error"));
      if (then) then(written ? nullptr : &*read_only);
    }
  }

  /// Commits `tx`. Once the commit is on disk, subscribers get its changes,
  /// the calling client (if any) gets its own through `reply_to_caller`, and
  /// `when_durable` runs; if the store cannot write it, `when_failed` runs
  /// instead (unless the caller already heard, having asked for unconfirmed reads).
  using caller_reply = std::function<void(std::vector<query_set_changes>)>;
  using failure_reply = std::function<void(const std::string& why)>;
  commit_result commit(transaction& tx, std::function<void()> when_durable, const std::string& caller = {},
                       caller_reply reply_to_caller = {}, failure_reply when_failed = {}) {
    // Every commit waits in `waiting` until durable, so a database with
    // nothing waiting has nothing in flight and may sleep (idle()).
    std::uint64_t ticket = next_ticket++;
    auto handle = caf::actor_cast<database_actor>(self);
    auto on_durable = [handle, tracker = tracker, ticket, durability = context.durability] {
      bool failed = durability && durability->failure();
      (failed ? tracker->failed_upto : tracker->durable_upto).store(ticket, std::memory_order_release);
      if (!tracker->wake_pending.exchange(true)) caf::anon_send(handle, durable_atom::value, ticket);
    };
    commit_result committed = tx.commit(std::move(on_durable));
    apply_schedule_changes(committed);
    if (queries.empty() && !reply_to_caller) {  // nothing subscribed: nothing to fan out
      waiting.emplace_back(ticket, [when_durable = std::move(when_durable),
                                    when_failed = std::move(when_failed)](const std::string* failure) {
        if (!failure && when_durable) when_durable();
        if (failure && when_failed) when_failed(*failure);
      });
    } else {
      auto changes = fan_out(committed);
      // Clients that asked for unconfirmed reads hear at once.
      for (auto it = changes.begin(); it != changes.end();) {
        auto c = clients.find(it->first);
        if (c == clients.end() || c->second.confirmed) {
          ++it;
          continue;
        }
        if (it->first == caller && reply_to_caller) reply_to_caller(std::move(it->second));
        else self->send(c->second.sink, server_atom::value, encode_transaction_update(it->second));
        if (it->first == caller) reply_to_caller = {};
        it = changes.erase(it);
      }
      if (reply_to_caller && !caller.empty()) {
        auto c = clients.find(caller);
        if (c != clients.end() && !c->second.confirmed) {
          reply_to_caller({});
          reply_to_caller = {};
        }
      }
      if (!caller.empty() && !reply_to_caller) when_failed = {};  // the caller has its answer
      waiting.emplace_back(ticket, [this, changes = std::move(changes), caller, reply_to_caller = std::move(reply_to_caller),
                                    when_durable = std::move(when_durable),
                                    when_failed = std::move(when_failed)](const std::string* failure) mutable {
        if (failure) {  // nobody hears of changes that were not written
          if (when_failed) when_failed(*failure);
          return;
        }
        for (auto& [connection, sets] : changes) {
          if (connection == caller) continue;
          auto it = clients.find(connection);
          if (it != clients.end()) self->send(it->second.sink, server_atom::value, encode_transaction_update(sets));
        }
        if (reply_to_caller) reply_to_caller(changes[caller]);
        if (when_durable) when_durable();
      });
    }
    return committed;
  }

  /// Commits `tx` and answers `reply` with `outcome` once the commit is durable.
  void commit(transaction& tx, call_result outcome, caf::typed_response_promise<call_result>* reply) {
    std::function<void()> answer;
    failure_reply failed;
    if (reply) {
      answer = [reply = *reply, outcome]() mutable { reply.deliver(outcome); };
      failed = [reply = *reply](const std::string& why) mutable { reply.deliver(not_written(why)); };
    }
    commit(tx, std::move(answer), {}, {}, std::move(failed));
  }

  static call_result not_written(const std::string& why) {
    return result_of(call_result_kind::internal_error, "the call's changes could not be written to disk: " + why);
  }

  /// Runs reducer `id` in its own transaction. The reply (if any) is sent
  /// when the commit is durable, or at once for a failure.
  /// How a WebSocket caller is answered: the outcome and its own subscription changes.
  using ws_reply = std::function<void(const call_result&, std::vector<query_set_changes>)>;

  /// `also` makes further changes in the reducer's transaction when it succeeds.
  call_result run(std::uint32_t id, const identity& sender, const connection_id& connection, std::int64_t timestamp,
                  std::string_view args, caf::typed_response_promise<call_result>* reply, ws_reply to_client = {},
                  const std::function<void(transaction&)>& also = {}) {
    if (auto woke = wake(); !woke) {  // the module failed to reload after an earlier call
      call_result failed = result_of(call_result_kind::internal_error,
                                     "the database's module is not available: " + woke.error().message);
      if (reply) reply->deliver(failed);
      if (to_client) to_client(failed, {});
      return failed;
    }
    if (auto refused = refuse_writes()) {
      call_result failed = result_of(call_result_kind::internal_error, *refused);
      if (reply) reply->deliver(failed);
      if (to_client) to_client(failed, {});
      return failed;
    }
    const reducer_def& reducer = def.reducers[id];
    std::size_t scheduled_before = immediate.size();
    auto tx = ds->begin();
    call_outcome outcome = module->call_reducer(id, sender, connection, timestamp, args, tx);
    if (outcome.status == call_status::ok) {
      if (also) also(tx);
      call_result ok = result_of(call_result_kind::ok);
      ok.timestamp_micros = timestamp;
      if (to_client)
        commit(tx, {}, connection.to_hex(),
               [to_client, ok](std::vector<query_set_changes> own) { to_client(ok, std::move(own)); },
               [to_client](const std::string& why) { to_client(not_written(why), {}); });
      else
        commit(tx, ok, reply);
      run_immediate();
      return ok;
    }
    tx.rollback();
    immediate.erase(immediate.begin() + std::ptrdiff_t(scheduled_before), immediate.end());  // its own only
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
    if (to_client) to_client(failed, {});
    return failed;
  }

  /// Reducers a call scheduled "at once" run as messages of their own, after
  /// what is already queued: a reducer that keeps scheduling itself neither
  /// recurses nor keeps other callers waiting.
  void run_immediate() {
    if (immediate.empty()) return;
    std::uint64_t id = current_chain ? current_chain : next_chain++;
    chain& c = chains[id];
    for (auto& [name, args] : immediate) {
      if (c.runs_left == 0) {
        system_log("Dropped " + std::to_string(immediate.size()) + " reducer runs scheduled at once: reducers scheduling "
                   "each other may run " + std::to_string(max_chain_runs) + " times from one call", "Warn");
        break;
      }
      --c.runs_left;
      ++c.queued;
      self->send(self, schedule_atom::value, std::move(name), std::move(args), id);
    }
    immediate.clear();
    if (c.queued == 0) chains.erase(id);
  }

  void run_scheduled_now(const std::string& name, const std::string& args, std::uint64_t chain_id) {
    current_chain = chain_id;
    if (auto id = def.reducer_id(name); id && wake())
      run(*id, record.database_identity, connection_id{}, now_micros(), args, nullptr);
    current_chain = 0;
    if (auto it = chains.find(chain_id); it != chains.end() && --it->second.queued == 0) chains.erase(it);
  }

  /// Why a client may not call `reducer`, if it may not.
  static std::optional<std::string> refusal(const reducer_def& reducer) {
    if (reducer.kind != lifecycle::none) return "`" + reducer.name + "` is a lifecycle reducer and cannot be called";
    if (!reducer.client_callable)
      return "`" + reducer.name + "` is not callable by clients (only its schedule calls it)";
    return std::nullopt;
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
    if (auto refused = refusal(reducer)) {
      auto r = result_of(call_result_kind::bad_arguments, *refused);
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
    if (auto on_disconnect = def.lifecycle_reducer(lifecycle::on_disconnect))
      run(*on_disconnect, req.caller, connection, now_micros(), "", nullptr);
    // The reply waits for the last commit: commits become durable in order.
    if (outcome.kind == call_result_kind::ok) {
      auto tx = ds->begin();
      commit(tx, outcome, &reply);  // an empty commit: durable after everything before it
    } else {
      reply.deliver(outcome);
    }
    return outcome;
  }

  // ---- WebSocket clients ----

  caf::result<bool> connect(const identity& id, const connection_id& connection, const std::string& jwt,
                            bool confirmed, client_sink sink) {
    if (auto woke = wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
    std::string key = connection.to_hex();
    if (auto taken = clients.find(key); taken != clients.end())
      return make_error(host_errc::not_owner,
                        "connection id " + key + " is already connected" +
                          (taken->second.id == id ? "" : " under another identity"));
    // A client whose connection actor ends, however it ends, is disconnected.
    self->monitor(sink);
    clients[key] = client{sink, id, connection, jwt, confirmed, {}};
    if (auto on_connect = def.lifecycle_reducer(lifecycle::on_connect)) {
      call_result ran = run(*on_connect, id, connection, now_micros(), "", nullptr);
      if (ran.kind != call_result_kind::ok) {
        clients.erase(key);
        return make_error(host_errc::not_owner, "client_connected refused the connection: " + ran.message);
      }
    }
    return true;
  }

  /// Ends every subscription (their tables are going away); clients are told
  /// with a SubscriptionError that names no request.
  void end_subscriptions(const std::string& why) {
    for (auto& [key, c] : clients) {
      for (auto& [set_id, texts] : c.query_sets)
        self->send(c.sink, server_atom::value, encode_subscription_error(std::nullopt, set_id, why));
      c.query_sets.clear();
      c.subscribed_queries = 0;
    }
    queries.clear();
  }

  void drop_query_set(const std::string& connection, std::uint32_t set_id, const std::vector<std::string>& plans) {
    for (auto& plan : plans) {
      auto it = queries.find(plan);
      if (it == queries.end()) continue;
      it->second.users.erase({connection, set_id});
      if (it->second.users.empty()) queries.erase(it);
    }
  }

  void disconnect(const connection_id& connection) {
    auto it = clients.find(connection.to_hex());
    if (it == clients.end()) return;
    for (auto& [set_id, texts] : it->second.query_sets) drop_query_set(it->first, set_id, texts);
    identity id = it->second.id;
    if (auto on_disconnect = def.lifecycle_reducer(lifecycle::on_disconnect))
      run(*on_disconnect, id, connection, now_micros(), "", nullptr);
    clients.erase(connection.to_hex());
  }

  /// The client whose connection actor ended, if it was still connected.
  void sink_down(const caf::actor_addr& sink) {
    for (auto& [key, c] : clients)
      if (c.sink.address() == sink) return disconnect(c.connection);
  }

  /// The plan for `text` as `c` may run it: the one already shared under its
  /// key, or a new one. Compiling first checks that `c` may see its tables.
  result<std::shared_ptr<sql::subscription_query>> compile(const client& c, const std::string& text) {
    auto compiled = sql::subscription_query::compile(*ds, text, sql::caller{c.id, c.id == record.owner}, sql_limits);
    if (!compiled) return compiled.error();
    auto it = queries.find(plan_key(c, text));
    if (it != queries.end()) return it->second.query;
    return compiled;
  }

  void subscribe(client& c, const std::string& key, const client_request& r, const std::function<void(std::string)>& reply) {
    auto refuse = [&](const std::string& why) { reply(encode_subscription_error(r.request_id, r.query_set_id, why)); };
    if (c.query_sets.count(r.query_set_id))
      return refuse("query set " + std::to_string(r.query_set_id) + " is already subscribed");
    std::vector<std::string> texts;
    std::set<std::string> seen;
    for (auto& q : r.queries)
      if (seen.insert(q).second) texts.push_back(q);
    if (c.subscribed_queries + texts.size() > max_queries_per_client)
      return refuse("a client may subscribe to at most " + std::to_string(max_queries_per_client) + " queries; it has " +
                    std::to_string(c.subscribed_queries) + " and asks for " + std::to_string(texts.size()) + " more");
    std::vector<std::shared_ptr<sql::subscription_query>> compiled;
    std::vector<table_rows> rows;
    for (auto& text : texts) {
      auto q = compile(c, text);
      if (!q) return refuse(q.error().message);
      table_rows t{(*q)->table_name(), {}};
      if (auto filled = (*q)->initial_rows(t.rows, sql_limits); !filled) return refuse(filled.error().message);
      compiled.push_back(*q);
      rows.push_back(std::move(t));
    }
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      keys.push_back(plan_key(c, texts[i]));
      auto& shared = queries[keys.back()];
      shared.query = compiled[i];
      shared.users.insert({key, r.query_set_id});
    }
    c.subscribed_queries += keys.size();
    c.query_sets[r.query_set_id] = std::move(keys);
    reply(encode_subscribe_applied(r.request_id, r.query_set_id, rows));
  }

  void unsubscribe(client& c, const std::string& key, const client_request& r, const std::function<void(std::string)>& reply) {
    auto set = c.query_sets.find(r.query_set_id);
    if (set == c.query_sets.end())
      return reply(encode_subscription_error(r.request_id, r.query_set_id,
                                             "query set " + std::to_string(r.query_set_id) + " is not subscribed"));
    std::optional<std::vector<table_rows>> dropped;
    if (r.flags == 1) {  // the client asked for the rows it drops
      dropped.emplace();
      for (auto& plan : set->second)
        if (auto q = queries.find(plan); q != queries.end()) {
          table_rows t{q->second.query->table_name(), {}};
          if (auto filled = q->second.query->initial_rows(t.rows, sql_limits); !filled)
            return reply(encode_subscription_error(r.request_id, r.query_set_id, filled.error().message));
          dropped->push_back(std::move(t));
        }
    }
    c.subscribed_queries -= set->second.size();
    drop_query_set(key, r.query_set_id, set->second);
    c.query_sets.erase(set);
    reply(encode_unsubscribe_applied(r.request_id, r.query_set_id, dropped));
  }

  void on_client(const connection_id& connection, const client_request& r) {
    auto it = clients.find(connection.to_hex());
    if (it == clients.end()) return;
    client& c = it->second;
    std::string key = it->first;
    auto sink = c.sink;
    std::function<void(std::string)> reply = [this, sink](std::string message) {
      self->send(sink, server_atom::value, std::move(message));
    };
    std::uint32_t request_id = r.request_id;
    auto answer = [this, sink, request_id](const call_result& result, std::vector<query_set_changes> own) {
      reducer_outcome outcome = result.kind == call_result_kind::ok           ? reducer_outcome::ok
                                : result.kind == call_result_kind::user_error ? reducer_outcome::err
                                                                              : reducer_outcome::internal_error;
      self->send(sink, server_atom::value,
                 encode_reducer_result(request_id, result.timestamp_micros, outcome, result.message, own));
    };
    // A module that failed to reload is loaded again here, or the request fails.
    if (auto woke = wake(); !woke) {
      std::string why = "the database's module is not available: " + woke.error().message;
      switch (r.type) {
        case client_request::kind::call_reducer: return answer(result_of(call_result_kind::internal_error, why), {});
        case client_request::kind::one_off_query: return reply(encode_one_off_result(r.request_id, nullptr, why));
        case client_request::kind::call_procedure: return reply(encode_procedure_error(r.request_id, now_micros(), why));
        default: return reply(encode_subscription_error(r.request_id, r.query_set_id, why));
      }
    }
    switch (r.type) {
      case client_request::kind::subscribe: return subscribe(c, key, r, reply);
      case client_request::kind::unsubscribe: return unsubscribe(c, key, r, reply);
      case client_request::kind::one_off_query: {
        auto q = sql::subscription_query::compile(*ds, r.queries.empty() ? "" : r.queries[0],
                                                  sql::caller{c.id, c.id == record.owner}, sql_limits);
        if (!q) return reply(encode_one_off_result(r.request_id, nullptr, q.error().message));
        std::vector<table_rows> rows{{(*q)->table_name(), {}}};
        if (auto filled = (*q)->initial_rows(rows[0].rows, sql_limits); !filled)
          return reply(encode_one_off_result(r.request_id, nullptr, filled.error().message));
        return reply(encode_one_off_result(r.request_id, &rows, ""));
      }
      case client_request::kind::call_procedure:
        return reply(encode_procedure_error(r.request_id, now_micros(), "procedures are not supported by this host yet"));
      case client_request::kind::call_reducer: {
        auto id = def.reducer_id(r.name);
        if (!id) return answer(result_of(call_result_kind::no_such_reducer, "no such reducer: `" + r.name + "`"), {});
        if (auto refused = refusal(def.reducers[*id]))
          return answer(result_of(call_result_kind::bad_arguments, *refused), {});
        if (auto problem = validate(def.reducers[*id].params, r.args))
          return answer(result_of(call_result_kind::bad_arguments, "invalid arguments for `" + r.name + "`: " + *problem), {});
        run(*id, c.id, c.connection, now_micros(), r.args, nullptr, answer);
        return;
      }
    }
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
    return initialize();
  }

  /// A fresh database's start: the module's init reducer, then its schedules.
  result<done> initialize() {
    if (auto init = def.lifecycle_reducer(lifecycle::init)) {
      call_result ran = run(*init, record.owner, connection_id{}, now_micros(), "", nullptr);
      if (ran.kind != call_result_kind::ok)
        return fail(errc::invalid_argument, "the module's init reducer failed: " + ran.message);
    }
    arm_all_schedules();
    return done{};
  }

  /// Runs the new module's init against empty tables in memory, so that an
  /// init that fails is refused before any data is dropped.
  result<done> rehearse_init(const std::string& code) {
    struct quiet_environment : module_environment {
      identity id;
      void log(log_level, std::string_view) override {}
      identity database_identity() const override { return id; }
      std::string jwt_payload(const connection_id&) const override { return {}; }
      void schedule_immediate(std::string, std::string) override {}
    } quiet;
    quiet.id = record.database_identity;
    auto loaded = module_instance::load(code, quiet, limits());
    if (!loaded) return loaded.error();
    auto decoded = decode_module_def((*loaded)->definition());
    if (!decoded) return decoded.error();
    auto init = decoded->lifecycle_reducer(lifecycle::init);
    if (!init) return done{};
    auto scratch = datastore::open(nullptr, nullptr, record.id);
    if (!scratch) return scratch.error();
    for (auto& schema : decoded->tables)
      if (auto created = (*scratch)->create_table(schema); !created) return created.error();
    (*loaded)->bind(**scratch, bindings_for(*decoded, **scratch));
    auto tx = (*scratch)->begin();
    call_outcome outcome = (*loaded)->call_reducer(*init, record.owner, connection_id{}, now_micros(), "", tx);
    tx.rollback();
    if (outcome.status != call_status::ok)
      return fail(errc::invalid_argument, "the module's init reducer failed: " + outcome.message +
                                            " (the database keeps its previous module and data)");
    return done{};
  }

  /// Runs `then` once everything committed so far is durable, else `failed`.
  void when_durable(std::function<void()> then, failure_reply failed) {
    auto tx = ds->begin();
    commit(tx, std::move(then), {}, {}, std::move(failed));  // an empty commit: durable after everything before it
  }

  result<done> update(const std::string& code, bool clear) {
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(code, decoded);
    if (!loaded) return loaded.error();
    if (clear) {
      if (auto rehearsed = rehearse_init(code); !rehearsed) return rehearsed;
      end_subscriptions("the database was republished and its data cleared");
      for (const table* t : ds->tables()) (void)ds->drop_table(t->schema().id);
      schedules.clear();
    }
    if (auto ensured = ensure_tables(decoded); !ensured) return ensured;
    module = std::move(*loaded);
    def = std::move(decoded);
    bundle = code;
    bind_names();
    if (!clear) {
      if (!schedules_armed) arm_all_schedules();  // the update woke the database
      return done{};
    }
    // The data is gone and the new module is in place, so it is published
    // either way; an init that failed here after its rehearsal passed is logged.
    if (auto initialized = initialize(); !initialized)
      system_log("Republished with cleared data, but " + initialized.error().message, "Error");
    return done{};
  }

  void fire_schedule(table_id table, const std::string& row, std::uint64_t generation) {
    auto it = schedules.find({table, row});
    if (it == schedules.end() || it->second.generation != generation) return;  // cancelled or re-armed
    if (!wake()) return;
    const struct table* t = ds->find_table(table);
    auto present = t && t->schema().schedule ? t->find_conflict(row) : std::nullopt;
    auto id = present ? def.reducer_id(t->schema().schedule->reducer) : std::nullopt;
    if (!present || present->index || !id) {  // the row, its table or its reducer is gone
      schedules.erase(it);
      return;
    }
    bool one_shot = false;
    std::vector<std::uint32_t> offsets;
    t->column_offsets(row, offsets);
    one_shot = row[offsets[t->schema().schedule->at_column]] == 1;
    // A one-shot schedule's row goes in the reducer's own transaction, so it
    // runs exactly once; when the reducer fails, the row goes on its own.
    auto consume = [&](transaction& tx) { (void)tx.delete_row(table, row); };
    call_result ran = run(*id, record.database_identity, connection_id{}, now_micros(), row, nullptr, {},
                          one_shot ? std::function<void(transaction&)>(consume) : nullptr);
    if (one_shot && ran.kind != call_result_kind::ok) {
      auto tx = ds->begin();
      consume(tx);
      commit(tx, {});
    } else if (auto again = schedules.find({table, row}); !one_shot && again != schedules.end() &&
                                                          again->second.generation == generation) {
      arm(*t, row);  // intervals repeat while their row exists
    }
  }
};

using self_ptr = database_actor::stateful_pointer<database_state>;

/// Fails a publish whose init could not be written.
database_state::failure_reply fail_reply(caf::typed_response_promise<bool> reply) {
  return [reply](const std::string& why) mutable {
    reply.deliver(make_error(host_errc::storage_failure, "the module's init could not be written to disk: " + why));
  };
}

} // namespace

database_actor spawn_database_actor(caf::actor_system& system, const database_context& context,
                                    database_record record, std::string bundle, bool after_crash) {
  return system.spawn([context, record, bundle, after_crash](self_ptr self) -> database_actor::behavior_type {
    // An exception that escapes a handler ends the actor; its text reaches the
    // registry, which logs it and starts the database again on the next request.
    // Whoever waits on a commit hears of the failure rather than timing out.
    self->set_exception_handler([self](caf::scheduled_actor*, std::exception_ptr& e) -> caf::error {
      std::string why = "unhandled exception of unknown type";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        why = std::string("unhandled exception: ") + x.what();
      } catch (...) {
      }
      self->state.fail_waiting(why);
      return make_error(host_errc::storage_failure, why);
    });
    self->set_down_handler([self](caf::down_msg& down) { self->state.sink_down(down.source); });
    auto& st = self->state;
    st.self = self;
    st.context = context;
    st.record = record;
    st.bundle = bundle;
    st.after_crash = after_crash;
    st.touch();  // an actor nobody sends anything still falls asleep
    return {
      // Both answer once init's commit is durable.
      [=](create_atom) {
        self->state.touch();
        auto reply = self->make_response_promise<bool>();
        auto created = self->state.create();
        if (!created) reply.deliver(make_error(host_errc::invalid_argument, created.error().message));
        else self->state.when_durable([reply]() mutable { reply.deliver(true); }, fail_reply(reply));
        return reply;
      },
      [=](update_atom, const std::string& code, bool clear) {
        self->state.touch();
        auto reply = self->make_response_promise<bool>();
        auto updated = self->state.update(code, clear);
        if (!updated) reply.deliver(make_error(host_errc::invalid_argument, updated.error().message));
        else self->state.when_durable([reply]() mutable { reply.deliver(true); }, fail_reply(reply));
        return reply;
      },
      [=](call_atom, const reducer_call& req) {
        self->state.touch();
        auto reply = self->make_response_promise<call_result>();
        self->state.call(req, reply);
        return reply;
      },
      [=](connect_atom, const identity& id, const connection_id& connection, const std::string& jwt, bool confirmed,
          client_sink sink) -> caf::result<bool> {
        self->state.touch();
        return self->state.connect(id, connection, jwt, confirmed, sink);
      },
      [=](client_atom, const connection_id& connection, const client_request& request) {
        self->state.touch();
        self->state.on_client(connection, request);
      },
      [=](client_atom, const connection_id&) { return true; },
      [=](sql_atom, const identity& caller, bool owner, const std::string& query) {
        self->state.touch();
        auto reply = self->make_response_promise<sql_reply>();
        self->state.sql(caller, owner, query, reply);
        return reply;
      },
      [=](describe_atom) -> caf::result<std::string> {
        self->state.touch();
        if (auto woke = self->state.wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
        return module_def_json(self->state.def);
      },
      [=](stop_atom) {
        auto& st = self->state;
        if (st.context.durability) st.context.durability->flush();
        st.answer_waiting();  // every commit is written, or failed, by now
        self->quit();
        return true;
      },
      [=](durable_atom, std::uint64_t) {
        auto& st = self->state;
        st.tracker->wake_pending.store(false);
        st.answer_waiting();
      },
      [=](schedule_atom, std::uint32_t table, const std::string& row, std::uint64_t generation) {
        self->state.touch();
        self->state.fire_schedule(table, row, generation);
      },
      [=](schedule_atom, const std::string& reducer, const std::string& args, std::uint64_t chain) {
        self->state.touch();
        self->state.run_scheduled_now(reducer, args, chain);
      },
      [=](wake_atom) {
        auto& st = self->state;
        st.touch();
        if (auto woke = st.wake(); !woke) st.system_log("Waking for a schedule failed: " + woke.error().message, "Error");
      },
      [=](idle_atom) { self->state.check_idle(); },
    };
  });
}

} // namespace orrery

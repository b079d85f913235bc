#include "actors/database_actor.hpp"

#include "actors/detail/call_validation.hpp"
#include "actors/detail/idle_timer.hpp"
#include "actors/detail/schedule_book.hpp"
#include "actors/detail/subscription_hub.hpp"
#include "actors/host_metrics.hpp"
#include "actors/roles.hpp"
#include "modules/migration.hpp"
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
#include "runtime/types/identity.hpp"
#include "runtime/types/names.hpp"
#include "runtime/types/sats_json.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <deque>
#include <map>
#include <variant>

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

call_result result_of(call_result_kind kind, std::string message = {}) { return {kind, std::move(message), now_micros(), {}}; }

// Reducers one call may set off by scheduling each other to run at once,
// directly or in a chain: a reducer that schedules itself stops here.
constexpr std::size_t max_chain_runs = 1024;

struct database_state : module_environment {
  // CAF constructs the state with its actor.
  explicit database_state(database_actor::pointer self)
      : self(self), subscriptions(self, sql_limits), schedules(self), sleep_timer(self) {}

  database_actor::pointer self;
  database_context context;
  database_record record;
  std::string bundle_hash;  // the running module: hex BLAKE3 of its bundle, as the registry names it
  std::string new_bundle;   // a new database's bundle until its first load (then its image holds it)
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
  std::optional<transaction> procedure_tx;  // the running procedure's `withTx`, while open
  // While a procedure or HTTP handler runs, views cannot be computed: the
  // tables its commits change are noted, and views refreshed once it returns.
  bool module_busy = false;
  std::set<table_id> changed_while_busy;
  sql::settings sql_settings;
  sql::limits sql_limits;
  detail::subscription_hub subscriptions;  // WebSocket clients and their subscriptions
  detail::schedule_book schedules;
  // An awake database with no clients and nothing in flight for the idle
  // timeout falls asleep (fall_asleep).
  detail::idle_timer sleep_timer;

  // ---- module_environment ----
  void log(log_level level, std::string_view message) override {
    log_record line{level_name(level), now_micros(), record.display_name(), "", 0, "", std::string(message)};
    caf::anon_send(context.logs, append_atom::value, record.id, std::move(line));
  }
  identity database_identity() const override { return record.database_identity; }
  std::string jwt_payload(const connection_id& connection) const override { return subscriptions.jwt(connection); }
  void schedule_immediate(std::string name, std::string args) override {
    immediate.emplace_back(std::move(name), std::move(args));
  }
  transaction* begin_procedure_tx(std::string& why) override {
    if (auto refused = refuse_writes()) {
      why = *refused;
      return nullptr;
    }
    procedure_tx.emplace(ds->begin());
    return &*procedure_tx;
  }
  void end_procedure_tx(bool commit_it) override {
    if (!procedure_tx) return;
    if (commit_it) commit(*procedure_tx, {});
    else procedure_tx->rollback();
    procedure_tx.reset();
  }
  result<http_fetch_response> fetch(const http_fetch_request& request) override {
    if (!context.fetch_http) return fail(errc::http_error, "outbound HTTP requests are disabled on this host");
    return context.fetch_http(request);
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

  /// A statement run as `caller`, with what `held` (a role on the database) permits.
  void sql(const identity& caller, role held, const std::string& query, caf::typed_response_promise<sql_reply>& reply) {
    const bool reads_private = permits(held, action::read_private);
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
    using kind = sql::statement::kind;
    if (parsed->type != kind::select && parsed->type != kind::show && !permits(held, action::write_rows)) {
      reply.deliver(sql_reply{403, refusal(caller.to_hex(), held, action::write_rows, record.display_name())});
      return;
    }
    if (auto view = view_read_by(query, reads_private); !view || *view) {  // a view, computed for the caller
      if (!view) return void(reply.deliver(sql_reply{400, view.error().message}));
      const table_schema schema = (*view)->schema;  // a copy: a reload replaces `def`
      std::set<table_id> reads;
      auto rows = evaluate_view(schema.name, (*view)->anonymous ? identity{} : caller, reads);
      if (!rows) return void(reply.deliver(sql_reply{400, rows.error().message}));
      sql::query_result result;
      for (auto& c : schema.columns) result.columns.push_back({c.name, c.type});
      algebraic_type row_type = schema.row_type();
      for (auto& bytes : *rows) {
        auto row = decode_value(row_type, bytes);
        if (row) result.rows.push_back(std::get<product_value>(row->v).fields);
      }
      auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
      return void(reply.deliver(sql_reply{200, sql::response_json(result, micros.count())}));
    }
    auto tx = ds->begin();
    std::uint64_t limit_before = sql_settings.row_limit;
    sql::caller who{caller, reads_private, permits(held, action::write_rows), &def.visibility};
    auto ran = sql::run(*ds, tx, *parsed, who, sql_settings, sql_limits);
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

  /// A client's one-off query: whole rows as a subscription would send them
  /// (a view's for the caller), else (projections, COUNT, ORDER BY, LIMIT)
  /// the SQL endpoint's answer, each row in BSATN of the selected columns.
  /// Read-only either way. With `json`, each row is a JSON object instead.
  result<std::vector<table_rows>> one_off_rows(const std::string& text, const identity& who, bool reads_private,
                                               bool json) {
    auto as_json = [](std::vector<std::string>& rows, const algebraic_type& row_type) -> result<done> {
      for (auto& row : rows) {
        auto decoded = decode_value(row_type, row);
        if (!decoded) return decoded.error();
        row = row_to_json_object(*decoded, row_type);
      }
      return done{};
    };
    auto view = view_query(text, who, reads_private);
    if (!view) return view.error();
    sql::caller asker{who, reads_private, false, &def.visibility};
    std::shared_ptr<detail::live_query> whole = *view;
    if (!whole)
      if (auto q = sql::subscription_query::compile(*ds, text, asker, sql_limits))
        whole = detail::sql_live_query(std::move(*q));
    if (whole) {
      std::vector<table_rows> rows{{whole->table_name(), {}}};
      if (auto filled = whole->initial_rows(rows[0].rows, sql_limits); !filled) return filled.error();
      if (json) {
        const view_def* v = def.view(rows[0].table);
        const table* t = ds->find_table(rows[0].table);
        algebraic_type row_type = v ? v->schema.row_type() : t ? t->row_type() : algebraic_type::unit();
        if (auto converted = as_json(rows[0].rows, row_type); !converted) return converted.error();
      }
      return rows;
    }
    auto parsed = sql::parse(text, sql_limits);
    if (!parsed) return parsed.error();
    if (parsed->type != sql::statement::kind::select)
      return fail(errc::invalid_argument, "a one-off query only reads: use SELECT, or the SQL endpoint to write");
    auto tx = ds->begin();
    sql::settings config = sql_settings;
    auto ran = sql::run(*ds, tx, *parsed, asker, config, sql_limits);
    tx.rollback();
    if (!ran) return ran.error();
    const std::string& named = parsed->select.from.name;
    const table* from = ds->find_table(named);
    if (!from) from = ds->find_table(snake_case(named));  // ran, so it exists under one of these
    std::vector<table_rows> rows{{from ? from->schema().name : named, {}}};
    std::vector<type_element> columns;
    for (auto& c : ran->columns) columns.push_back({c.name, c.type});
    const algebraic_type row_type = algebraic_type::product(std::move(columns));
    for (auto& row : ran->rows) {
      value v{product_value{std::move(row)}};
      rows[0].rows.push_back(json ? row_to_json_object(v, row_type) : encode_value(v));
    }
    return rows;
  }

  module_limits limits() const {
    module_limits out;
    out.reducer_budget = context.reducer_budget;
    out.heap_limit_bytes = context.heap_limit_bytes;
    return out;
  }

  /// The running module's bundle: a new database's, else the stored one.
  std::string running_bundle() const {
    if (!new_bundle.empty() || !context.db) return new_bundle;
    return context.db->get(keys::program(bundle_hash)).value_or("");
  }

  /// The running module's image: shared by the host's awake databases of the
  /// module, else the one its first load stored; null if neither is there.
  std::shared_ptr<const module_image> running_image() const {
    if (auto shared = context.images ? context.images->find(bundle_hash) : nullptr) return shared;
    auto stored = context.db ? context.db->get(keys::program_image(bundle_hash)) : std::nullopt;
    return stored ? decode_stored_image(running_bundle(), *stored) : nullptr;
  }

  /// Keeps what starting `loaded`'s module (`hash`) again needs: for the
  /// other databases of it in the cache, and with `store` for the next wake
  /// in the store (only beside a stored bundle: a new database's or a new
  /// module's bundle is stored once the registry records it).
  void keep_image(const module_instance& loaded, const std::string& hash, bool store) const {
    if (context.images) context.images->keep(hash, loaded.image());
    if (!store || !context.db) return;
    write_batch batch;
    batch.put(keys::program_image(hash), encode_stored_image(*loaded.image()));
    (void)context.db->write(batch, false);  // lost in a crash, made again by the next load
  }

  /// An instance of `code` (a new module, loaded in full), or with no code
  /// of the running module, started from its image when there is one.
  result<std::unique_ptr<module_instance>> load_instance(const std::string* code, module_def& decoded) {
    auto image = code ? nullptr : running_image();
    std::string bundle = code || image ? std::string() : running_bundle();
    if (!code && !image && bundle.empty())
      return fail(errc::storage, "the module of this database (" + bundle_hash + ") is missing from the store");
    auto loaded = image ? module_instance::start(image, *this, limits())
                        : module_instance::load(code ? *code : bundle, *this, limits());
    if (!loaded) return loaded.error();
    // A full load, or a cache V8 refused, leaves an image worth storing.
    if (!code) keep_image(**loaded, bundle_hash, (!image || (*loaded)->cache_rejected()) && new_bundle.empty());
    auto parsed = decode_module_def((*loaded)->definition());
    if (!parsed) return parsed.error();
    decoded = std::move(*parsed);
    return std::move(*loaded);
  }

  /// Checks, as the module loads, that the stored tables are the ones it
  /// declares (a republish migrates them with the module): creates missing
  /// ones, and gives columns stored under source names their canonical names.
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
      // Columns stored under their source names (`lastSeen`) before the host
      // gave them canonical ones (`last_seen`) take the canonical names.
      bool renamed = false;
      for (std::size_t i = 0; same && i < have.columns.size(); ++i) {
        same = have.columns[i].type == schema.columns[i].type &&
               (have.columns[i].name == schema.columns[i].name || snake_case(have.columns[i].name) == schema.columns[i].name);
        renamed = renamed || have.columns[i].name != schema.columns[i].name;
      }
      if (!same)
        return fail(errc::invalid_argument, "Database update rejected: the columns of table `" + schema.name +
                                              "` changed; publish with --delete-data to start over");
      if (have.is_event != schema.is_event)
        return fail(errc::invalid_argument, "Database update rejected: table `" + schema.name + "` " +
                                              (schema.is_event ? "becomes" : "is no longer") +
                                              " an event table; publish with --delete-data to start over");
      if (renamed) {
        std::vector<std::string> names;
        for (auto& c : schema.columns) names.push_back(c.name);
        if (auto done = ds->rename_columns(have.id, names); !done) return done;
        system_log("Columns of table `" + schema.name + "` now have their canonical (snake_case) names");
      }
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
      out.tables[wanted.table_sources[i].name] = t->schema().id;
      for (std::size_t k = 0; k < wanted.tables[i].indexes.size(); ++k) {
        const index_schema* ix = t->schema().index_named(wanted.tables[i].indexes[k].name);
        if (!ix) continue;
        out.indexes[ix->name] = ix->id;
        out.indexes[wanted.table_sources[i].index_names[k]] = ix->id;
      }
    }
    return out;
  }

  void bind_names() {
    names = bindings_for(def, *ds);
    module->bind(*ds, names);
  }

  /// Opens the datastore, loads the running module and makes the tables
  /// match it (a new database, and one that wakes).
  result<done> load() {
    if (auto opened = open_datastore(); !opened) return opened;
    module_def decoded;
    auto loaded = load_instance(nullptr, decoded);
    if (!loaded) return loaded.error();
    new_bundle.clear();
    module = std::move(*loaded);
    def = std::move(decoded);
    if (auto ensured = ensure_tables(def); !ensured) return ensured;
    bind_names();
    return done{};
  }

  /// Opens the datastore and module if not yet done (a sleeping database wakes here).
  result<done> wake() {
    if (module && !module->broken()) return done{};
    if (!ds) system_log("Awake");
    if (auto loaded = load(); !loaded) return loaded;
    if (database_figures* f = figures()) f->awake = true;
    if (!schedules.armed()) arm_all_schedules();
    return done{};
  }

  // ---- sleep ----

  /// Notes a message that keeps the database awake; an idle check follows.
  void touch() { sleep_timer.touch(context.idle_timeout); }

  bool idle() const { return !subscriptions.has_clients() && waiting.empty() && chains.empty() && immediate.empty(); }

  void check_idle() {
    if (sleep_timer.check(context.idle_timeout, idle())) fall_asleep();
  }

  /// Ends the actor, and with it the isolate and the tables in memory, once
  /// everything it wrote is on disk (table changes outside calls included, and
  /// a checkpoint, so that the wake replays no commit log), so that its next
  /// actor reads without waiting. The registry keeps the next
  /// schedule's due time and wakes the database for it; an actor that never
  /// armed the schedules (its module did not load) leaves the due time as it was.
  void fall_asleep(bool for_budget = false) {
    if (database_figures* counted_in = figures()) {
      database_figures& f = *counted_in;
      f.awake = false;
      f.memory_bytes = 0;
      f.clients = 0;
      f.subscriptions = 0;
    }
    std::int64_t next_due = schedules.next_due();
    system_log(detail::asleep_line(context.idle_timeout, for_budget, next_due));
    schedules.keep_while_asleep(context.db, keys::sleeping_schedules(record.id));
    module.reset();  // freed before the registry hears, so that it can give the memory back
    if (ds) ds->checkpoint_now();
    ds.reset();
    if (context.durability) context.durability->flush();
    self->send(context.sleeps, sleep_atom::value, record.id, next_due);
    self->quit();
  }

  /// What the database holds in memory now; its gauges follow.
  database_usage usage() {
    database_usage out;
    out.awake = module || ds;  // a failed load may leave the tables in memory
    out.idle = idle();
    if (module) out.heap_bytes = module->memory_bytes();
    if (ds) out.table_bytes = ds->memory_bytes();
    out.queued = self->mailbox().size() + waiting.size();
    out.idle_micros = std::chrono::duration_cast<std::chrono::microseconds>(sleep_timer.quiet_for()).count();
    if (database_figures* counted_in = figures()) {
      database_figures& f = *counted_in;
      f.awake = out.awake;
      f.memory_bytes = std::int64_t(out.heap_bytes + out.table_bytes);
      std::int64_t rows = 0;
      if (ds)
        for (const table* t : ds->tables()) rows += std::int64_t(t->row_count());
      f.rows = rows;
      f.clients = std::int64_t(subscriptions.client_count());
      f.subscriptions = std::int64_t(subscriptions.query_count());
    }
    return out;
  }

  /// The database's figures in the host's metrics, if the host keeps them.
  database_figures* figures() {
    if (!counted && context.metrics) counted = context.metrics->of(record.id);
    return counted.get();
  }
  std::shared_ptr<database_figures> counted;

  /// Counts a finished call of `function` in the database's figures.
  void note_call(const std::string& function, const identity& caller, std::chrono::steady_clock::time_point started,
                 const call_result& outcome) {
    database_figures* f = figures();
    if (!f) return;
    call_record call;
    call.at_micros = now_micros();
    call.function = function;
    call.caller = caller;
    call.micros = std::uint64_t(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count());
    call.result = outcome.kind == call_result_kind::ok           ? call_record::outcome::ok
                  : outcome.kind == call_result_kind::user_error ? call_record::outcome::user_error
                                                                 : call_record::outcome::internal_error;
    if (outcome.kind != call_result_kind::ok) call.error = outcome.message.substr(0, 1000);
    f->note(std::move(call));
  }

  // ---- schedules ----

  void arm_all_schedules() { schedules.arm_all(*ds, context.db, keys::sleeping_schedules(record.id)); }

  void fire_schedule(table_id table, const std::string& row, std::uint64_t generation) {
    if (!schedules.current(table, row, generation)) return;  // cancelled or re-armed
    if (!wake()) return;
    const struct table* t = ds->find_table(table);
    auto present = t && t->schema().schedule ? t->find_conflict(row) : std::nullopt;
    auto id = present ? def.reducer_id(t->schema().schedule->reducer) : std::nullopt;
    if (!present || present->index || !id) {  // the row, its table or its reducer is gone
      schedules.drop(table, row);
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
    } else if (!one_shot && schedules.current(table, row, generation)) {
      schedules.arm(*t, row);  // intervals repeat while their row exists
    }
  }

  // ---- calls ----

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
    if (database_figures* f = figures()) f->commits.fetch_add(1, std::memory_order_relaxed);
    schedules.apply(*ds, committed);
    if (module_busy)
      for (auto& u : committed.updates) changed_while_busy.insert(u.table);
    if (!subscriptions.has_queries() && !reply_to_caller) {  // nothing subscribed: nothing to fan out
      waiting.emplace_back(ticket, [when_durable = std::move(when_durable),
                                    when_failed = std::move(when_failed)](const std::string* failure) {
        if (!failure && when_durable) when_durable();
        if (failure && when_failed) when_failed(*failure);
      });
    } else {
      auto changes = subscriptions.fan_out(committed);
      // Clients that asked for unconfirmed reads hear at once.
      for (auto it = changes.begin(); it != changes.end();) {
        if (!subscriptions.hears_at_once(it->first)) {
          ++it;
          continue;
        }
        if (it->first == caller && reply_to_caller) reply_to_caller(std::move(it->second));
        else subscriptions.send_update(it->first, it->second);
        if (it->first == caller) reply_to_caller = {};
        it = changes.erase(it);
      }
      if (reply_to_caller && !caller.empty() && subscriptions.hears_at_once(caller)) {
        reply_to_caller({});
        reply_to_caller = {};
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
          subscriptions.send_update(connection, sets);
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
    const auto started = std::chrono::steady_clock::now();
    auto tx = ds->begin();
    call_outcome outcome = module->call_reducer(id, sender, connection, timestamp, args, tx);
    if (outcome.status == call_status::ok) {
      if (also) also(tx);
      call_result ok = result_of(call_result_kind::ok);
      ok.timestamp_micros = timestamp;
      note_call(reducer.name, sender, started, ok);
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
    note_call(reducer.name, sender, started, failed);
    if (outcome.status == call_status::internal_error)
      log(log_level::error, "reducer `" + reducer.name + "` failed: " + outcome.message);
    reload_if_broken("reducer `" + reducer.name + "`");
    if (reply) reply->deliver(failed);
    if (to_client) to_client(failed, {});
    return failed;
  }

  // ---- views ----

  /// Computes view `name` for `who` over the tables as they are now: its
  /// rows (BSATN) and the tables it read.
  result<std::vector<std::string>> evaluate_view(const std::string name, const identity& who, std::set<table_id>& reads) {
    if (auto woke = wake(); !woke) return woke.error();
    const view_def* v = def.view(name);
    if (!v) return fail(errc::invalid_argument, "the module has no view `" + name + "` any more");
    auto tx = ds->begin();
    call_outcome outcome = module->call_view(v->hook_id, v->anonymous, who, tx, reads);
    tx.rollback();
    reload_if_broken("view `" + name + "`");
    if (outcome.status != call_status::ok) {
      log(log_level::error, "view `" + name + "` failed: " + outcome.message);
      return fail(errc::host_call_failure, "view `" + name + "` failed: " + outcome.message);
    }
    std::vector<std::string> rows;
    try {
      bsatn_reader in(outcome.value);
      if (in.u8() == 0) {  // ViewResultHeader::RowData, then the rows
        std::string_view data(in.position(), in.remaining());
        auto decoded = decode_value(algebraic_type::array_of(v->schema.row_type()), data);
        if (!decoded) return fail(errc::host_call_failure, "view `" + name + "` returned rows not of its type: " + decoded.error().message);
        for (auto& row : std::get<array_value>(decoded->v)) rows.push_back(encode_value(row));
        return rows;
      }
      std::string sql(in.string());  // ViewResultHeader::RawSql: a query whose rows the view means
      if (sql.empty()) return rows;
      auto query = sql::subscription_query::compile(*ds, sql, sql::caller{record.owner, true, false, nullptr}, sql_limits);
      if (!query) return fail(errc::host_call_failure, "view `" + name + "` returned a query that fails: " + query.error().message);
      if (auto filled = (*query)->initial_rows(rows, sql_limits); !filled) return filled.error();
      for (const table* t : ds->tables()) reads.insert(t->schema().id);
      return rows;
    } catch (const bsatn_error& e) {
      return fail(errc::host_call_failure, "view `" + name + "` returned bytes that cannot be read: " + e.what());
    }
  }

  /// The view `text` reads whole, if it reads one: `SELECT * FROM <view>`.
  /// A query that reads a view otherwise fails, as does one of a private
  /// view by a caller who may not read private data.
  result<const view_def*> view_read_by(const std::string& text, bool reads_private) {
    auto parsed = sql::parse(text, sql_limits);
    if (!parsed || parsed->type != sql::statement::kind::select) return static_cast<const view_def*>(nullptr);
    const sql::select_statement& s = parsed->select;
    const view_def* v = def.view(s.from.name);
    bool joins_view = false;
    for (auto& j : s.joins) joins_view = joins_view || def.view(j.table.name);
    if (!v && !joins_view) return static_cast<const view_def*>(nullptr);
    if (v && !v->schema.is_public && !reads_private)
      return fail(errc::invalid_argument, "no such table: `" + v->schema.name + "`. If the table exists, it may be marked private.");
    bool whole = v && s.joins.empty() && !s.where && s.order_by.empty() && !s.limit && !s.offset && s.items.size() == 1 &&
                 (s.items[0].type == sql::select_item::kind::all ||
                  (s.items[0].type == sql::select_item::kind::table_all && s.items[0].table == s.from.alias));
    if (!whole)
      return fail(errc::invalid_argument, "a view is read whole, alone: SELECT * FROM " +
                                            (v ? v->schema.name : std::string("<view>")));
    return v;
  }

  /// The live query of `text` for client `who` when it reads a view.
  result<std::shared_ptr<detail::live_query>> view_query(const std::string& text, const identity& who,
                                                         bool reads_private) {
    auto v = view_read_by(text, reads_private);
    if (!v) return v.error();
    if (!*v) return std::shared_ptr<detail::live_query>();
    std::string name = (*v)->schema.name;
    identity caller = (*v)->anonymous ? identity{} : who;
    return detail::view_live_query(name, [this, name, caller](std::set<table_id>& reads)
                                           -> std::optional<result<std::vector<std::string>>> {
      if (module_busy) return std::nullopt;
      return evaluate_view(name, caller, reads);
    });
  }

  /// Sends subscribers the changes to views that commits made while the
  /// module could not compute them (a procedure or HTTP handler ran), once
  /// those commits are durable.
  void refresh_views() {
    if (changed_while_busy.empty()) return;
    commit_result changed;
    for (table_id t : changed_while_busy) changed.updates.push_back({t, {}, {}, {}});
    changed_while_busy.clear();
    auto changes = subscriptions.fan_out(changed);  // tables' queries see no rows; views compute again
    if (changes.empty()) return;
    when_durable([this, changes = std::move(changes)] {
      for (auto& [connection, sets] : changes) subscriptions.send_update(connection, sets);
    }, {});
  }

  /// Replaces a module instance a call left broken (stopped, or out of
  /// memory): the next call gets a fresh isolate. `what` names the call.
  void reload_if_broken(const std::string& what) {
    if (!module || !module->broken()) return;
    system_log("Reloading the module after " + what + " was stopped", "Warn");
    module.reset();
    if (auto woke = wake(); !woke) system_log("Reloading the module failed: " + woke.error().message, "Error");
  }

  /// Runs procedure `id` outside any transaction; it commits its own
  /// (`withTx`) as it goes. `answer` hears the outcome, and how long the
  /// procedure ran, once everything it committed is durable.
  using procedure_reply = std::function<void(const call_outcome&, std::int64_t timestamp, std::int64_t micros)>;
  void run_procedure(std::uint32_t id, const identity& sender, const connection_id& connection, std::string_view args,
                     procedure_reply answer) {
    const std::string name = def.procedures[id].name;
    std::int64_t timestamp = now_micros();
    auto started = std::chrono::steady_clock::now();
    module_busy = true;
    call_outcome outcome = module->call_procedure(id, sender, connection, timestamp, args);
    module_busy = false;
    std::int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
    if (outcome.status == call_status::internal_error)
      log(log_level::error, "procedure `" + name + "` failed: " + outcome.message);
    reload_if_broken("procedure `" + name + "`");
    run_immediate();
    refresh_views();
    when_durable([answer, outcome, timestamp, micros] { answer(outcome, timestamp, micros); },
                 [answer, timestamp, micros](const std::string& why) {
                   answer({call_status::internal_error, "the procedure's changes could not be written to disk: " + why, {}, {}},
                          timestamp, micros);
                 });
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

  call_result call(const reducer_call& req, caf::typed_response_promise<call_result>& reply) {
    if (auto woke = wake(); !woke) {
      auto r = result_of(call_result_kind::internal_error, woke.error().message);
      reply.deliver(r);
      return r;
    }
    auto checked = detail::check_call(def, req.reducer, req.args, req.args_are_json, detail::call_origin::http);
    if (!def.reducer_id(req.reducer) && def.procedure_id(req.reducer)) return call_procedure(req, reply);
    if (auto* refused = std::get_if<detail::refused_call>(&checked)) {
      auto r = result_of(refused->kind, std::move(refused->message));
      reply.deliver(r);
      return r;
    }
    auto& [id, args] = std::get<detail::checked_call>(checked);
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
    if (!req.wrap_in_connection) return run(id, req.caller, connection, now_micros(), args, &reply);
    call_result outcome = run(id, req.caller, connection, now_micros(), args, nullptr);
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

  /// A procedure called over HTTP: its return value answers as SATS-JSON.
  call_result call_procedure(const reducer_call& req, caf::typed_response_promise<call_result>& reply) {
    auto checked = detail::check_procedure_call(def, req.reducer, req.args, req.args_are_json, detail::call_origin::http);
    if (auto* refused = std::get_if<detail::refused_call>(&checked)) {
      auto r = result_of(refused->kind, std::move(refused->message));
      reply.deliver(r);
      return r;
    }
    auto& [id, args] = std::get<detail::checked_call>(checked);
    algebraic_type returns = def.procedures[id].returns;
    run_procedure(id, req.caller, req.connection, args,
                  [reply, returns](const call_outcome& outcome, std::int64_t timestamp, std::int64_t) mutable {
                    call_result r = result_of(outcome.status == call_status::ok           ? call_result_kind::ok
                                              : outcome.status == call_status::user_error ? call_result_kind::user_error
                                                                                         : call_result_kind::internal_error,
                                              outcome.message);
                    r.timestamp_micros = timestamp;
                    if (outcome.status == call_status::ok) {
                      auto value = decode_value(returns, outcome.value);
                      if (value) r.value_json = to_sats_json(*value, returns);
                      else r = result_of(call_result_kind::internal_error,
                                         "the procedure returned bytes that are not its return type: " + value.error().message);
                    }
                    reply.deliver(r);
                  });
    return result_of(call_result_kind::ok);
  }

  /// A request to one of the module's HTTP routes: its handler runs outside
  /// any transaction (as a procedure does); the answer waits until what it
  /// committed is durable.
  void serve_route(const route_request& req, caf::typed_response_promise<route_response>& reply) {
    if (auto woke = wake(); !woke) return void(reply.deliver(route_response{500, {}, woke.error().message}));
    const http_route_def* route = def.route(req.method, req.path);
    if (!route) return void(reply.deliver(route_response{404, {}, "Database has not registered a handler for this route"}));
    static const char* const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    std::string request;  // HttpRequest BSATN: method, headers, timeout, uri, version
    bsatn_writer w(request);
    auto known = std::find(std::begin(methods), std::end(methods), req.method);
    w.u8(std::uint8_t(known - std::begin(methods)));
    if (known == std::end(methods)) w.string(req.method);
    w.u32(std::uint32_t(req.headers.size()));
    for (auto& [name, value] : req.headers) {
      w.string(name);
      w.u32(std::uint32_t(value.size()));
      w.raw(value);
    }
    w.u8(1);  // no timeout
    w.string(req.uri);
    w.u8(2);  // HTTP/1.1
    const std::string handler = def.http_handlers[route->handler];  // a copy: a reload replaces `def`
    module_busy = true;
    call_outcome outcome = module->call_http_handler(route->handler, now_micros(), request, req.body);
    module_busy = false;
    reload_if_broken("HTTP handler `" + handler + "`");
    run_immediate();
    refresh_views();
    route_response answer{500, {}, outcome.message};
    if (outcome.status == call_status::ok) {
      try {  // HttpResponse BSATN: headers, version, code
        bsatn_reader in(outcome.value);
        route_response decoded;
        for (std::uint32_t n = in.u32(); n > 0; --n) {
          std::string name(in.string());
          std::uint32_t length = in.u32();
          decoded.headers.emplace_back(std::move(name), std::string(in.take(length)));
        }
        in.u8();
        decoded.status = in.fixed<std::uint16_t>();
        if (decoded.status < 200 || decoded.status > 999) throw bsatn_error("status " + std::to_string(decoded.status));
        for (auto& [name, value] : decoded.headers) {
          bool token = !name.empty() && name.size() <= 256 && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c));
          });
          if (!token || value.size() > 8192 || value.find_first_of("\r\n") != std::string::npos)
            throw bsatn_error("header `" + name.substr(0, 64) + "` is not a valid HTTP header");
        }
        if (decoded.status != 204 && decoded.status != 304) decoded.body = std::move(outcome.body);
        answer = std::move(decoded);
      } catch (const bsatn_error& e) {
        answer.body = std::string("the handler's response could not be read: ") + e.what();
      }
    }
    if (answer.status == 500 && outcome.status != call_status::ok)
      log(log_level::error, "HTTP handler `" + handler + "` failed: " + answer.body);
    when_durable([reply, answer]() mutable { reply.deliver(answer); },
                 [reply](const std::string& why) mutable {
                   reply.deliver(route_response{500, {}, "the handler's changes could not be written to disk: " + why});
                 });
  }

  // ---- WebSocket clients ----

  caf::result<bool> connect(const identity& id, const connection_id& connection, const std::string& jwt,
                            bool confirmed, bool reads_private, client_sink sink) {
    if (auto woke = wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
    if (auto taken = subscriptions.add(id, connection, jwt, confirmed, reads_private, sink)) return taken;
    if (auto on_connect = def.lifecycle_reducer(lifecycle::on_connect)) {
      call_result ran = run(*on_connect, id, connection, now_micros(), "", nullptr);
      if (ran.kind != call_result_kind::ok) {
        subscriptions.remove(connection);
        return make_error(host_errc::not_owner, "client_connected refused the connection: " + ran.message);
      }
    }
    client_gauges();
    return true;
  }

  void disconnect(const connection_id& connection) {
    auto id = subscriptions.leave(connection);
    if (!id) return;
    if (auto on_disconnect = def.lifecycle_reducer(lifecycle::on_disconnect))
      run(*on_disconnect, *id, connection, now_micros(), "", nullptr);
    subscriptions.remove(connection);
    client_gauges();
  }

  /// Connected clients and their queries, in the database's figures.
  void client_gauges() {
    if (database_figures* f = figures()) {
      f->clients = std::int64_t(subscriptions.client_count());
      f->subscriptions = std::int64_t(subscriptions.query_count());
      f->awake = true;
    }
  }

  /// The client whose connection actor ended, if it was still connected.
  void sink_down(const caf::actor_addr& sink) {
    if (auto connection = subscriptions.connection_of(sink)) disconnect(*connection);
  }

  void on_client(const connection_id& connection, const client_request& r) {
    auto c = subscriptions.find(connection);
    if (!c) return;
    auto sink = c->sink;
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
      case client_request::kind::subscribe:
        subscriptions.subscribe(connection, r, *ds, def.visibility,
                                [this](const std::string& text, const identity& who, bool reads_private) {
                                  return view_query(text, who, reads_private);
                                },
                                reply);
        return client_gauges();
      case client_request::kind::unsubscribe:
        subscriptions.unsubscribe(connection, r, reply);
        return client_gauges();
      case client_request::kind::one_off_query: {
        auto rows = one_off_rows(r.queries.empty() ? "" : r.queries[0], c->id, c->reads_private, r.json);
        if (!rows) return reply(encode_one_off_result(r.request_id, nullptr, rows.error().message));
        return reply(encode_one_off_result(r.request_id, &*rows, ""));
      }
      case client_request::kind::call_procedure: {
        auto checked = detail::check_procedure_call(def, r.name, r.args, r.json, detail::call_origin::websocket);
        if (auto* refused = std::get_if<detail::refused_call>(&checked))
          return reply(encode_procedure_error(r.request_id, now_micros(), refused->message));
        auto& call = std::get<detail::checked_call>(checked);
        std::uint32_t request_id = r.request_id;
        run_procedure(call.id, c->id, c->connection, call.args,
                      [reply, request_id](const call_outcome& outcome, std::int64_t timestamp, std::int64_t micros) {
                        if (outcome.status == call_status::ok)
                          reply(encode_procedure_returned(request_id, timestamp, micros, outcome.value));
                        else
                          reply(encode_procedure_error(request_id, timestamp, outcome.message));
                      });
        return;
      }
      case client_request::kind::call_reducer: {
        auto checked = detail::check_call(def, r.name, r.args, r.json, detail::call_origin::websocket);
        if (auto* refused = std::get_if<detail::refused_call>(&checked))
          return answer(result_of(refused->kind, std::move(refused->message)), {});
        auto& call = std::get<detail::checked_call>(checked);
        run(call.id, c->id, c->connection, now_micros(), call.args, nullptr, answer);
        return;
      }
    }
  }

  // ---- create / update ----

  result<done> create() {
    if (auto loaded = load(); !loaded) return loaded;
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
  result<done> rehearse_init(const std::shared_ptr<const module_image>& image) {
    struct quiet_environment : module_environment {
      identity id;
      void log(log_level, std::string_view) override {}
      identity database_identity() const override { return id; }
      std::string jwt_payload(const connection_id&) const override { return {}; }
      void schedule_immediate(std::string, std::string) override {}
    } quiet;
    quiet.id = record.database_identity;
    auto loaded = module_instance::start(image, quiet, limits());
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

  /// The plan from the running module (`running`) to `next`, over the stored tables.
  migration_plan plan_for(const module_def& running, const module_def& next) const {
    std::vector<table_schema> stored;
    for (const table* t : ds->tables()) stored.push_back(t->schema());
    stored_rows rows{
      [this](const std::string& name) -> std::size_t {
        const table* t = ds->find_table(name);
        return t ? t->row_count() : 0;
      },
      [this](const std::string& name, const std::vector<std::uint16_t>& columns) -> std::optional<std::string> {
        const table* t = ds->find_table(name);
        auto shared = t ? t->shared_value(columns) : std::nullopt;
        if (!shared) return std::nullopt;
        std::vector<type_element> fields;
        for (auto c : columns) fields.push_back({t->schema().columns[c].name, t->schema().columns[c].type});
        const algebraic_type product = algebraic_type::product(std::move(fields));
        auto value = decode_value(product, *shared);
        return value ? to_sats_json(*value, product) : std::string("(unreadable)");
      }};
    return plan_migration(running, stored, next, rows);
  }

  /// What the datastore does to go from its tables to `next`'s; with `clear`, to new empty ones.
  datastore::schema_change changes_to(const module_def& next, bool clear) const {
    datastore::schema_change change;
    for (const table* t : ds->tables())
      if (clear || std::none_of(next.tables.begin(), next.tables.end(), [&](auto& n) { return n.name == t->schema().name; }))
        change.drop.push_back(t->schema().id);
    for (auto& wanted : next.tables) {
      const table* have = clear ? nullptr : ds->find_table(wanted.name);
      if (!have) {
        change.create.push_back(wanted);
        continue;
      }
      table_schema altered = wanted, stored = have->schema();
      altered.id = stored.id;
      for (auto& ix : stored.indexes) ix.id = 0;
      if (encode_schema(altered) != encode_schema(stored)) change.alter.push_back(std::move(altered));
    }
    return change;
  }

  /// The plan from the running module to the bundle `code`, as JSON.
  result<std::string> plan(const std::string& code) {
    if (auto opened = open_datastore(); !opened) return opened.error();
    const bool running = wake().ok();
    module_def next;
    auto loaded = load_instance(&code, next);
    if (!loaded) return loaded.error();
    return plan_for(running ? def : module_def{}, next).json();
  }

  /// Republishes: the tables migrate to the new module's (or, with `clear`,
  /// start empty), written in one batch with the module they belong to.
  result<done> update(const std::string& code, const std::string& hash, bool clear, bool break_clients) {
    if (auto opened = open_datastore(); !opened) return opened;
    if (auto refused = refuse_writes()) return fail(errc::storage, *refused);
    // The running module, to compare with (a broken one compares as none).
    const bool running = clear || wake().ok();
    module_def decoded;
    auto loaded = load_instance(&code, decoded);
    if (!loaded) return loaded.error();
    migration_plan plan;
    if (clear) {
      if (auto rehearsed = rehearse_init((*loaded)->image()); !rehearsed) return rehearsed;
    } else {
      plan = plan_for(running ? def : module_def{}, decoded);
      if (plan.forbidden()) return fail(errc::invalid_argument, "Database update rejected.\n" + plan.text());
      if (plan.breaks_clients() && !break_clients)
        return fail(errc::invalid_argument, "Database update rejected: it breaks clients, and that was not accepted "
                                            "(orrery publish --break-clients).\n" + plan.text());
    }
    write_batch with_module;  // a crash leaves the tables and the module they belong to together
    with_module.put(keys::program(hash), code);
    with_module.put(keys::running_module(record.id), hash);
    const auto change = changes_to(decoded, clear);
    if (auto migrated = ds->migrate(change, std::move(with_module)); !migrated) return migrated;
    for (auto& step : plan.steps) system_log("Migration: " + step.text);

    module = std::move(*loaded);
    def = std::move(decoded);
    // The subscriptions planned over replaced tables go (with their clients, on a breaking change) or are planned again.
    if (clear) subscriptions.end_all("the database was republished and its data cleared");
    else if (plan.breaks_clients()) subscriptions.disconnect_all("the module was updated with changes that break clients");
    else if (!change.alter.empty() || !change.drop.empty())
      subscriptions.recompile(*ds, def.visibility, [this](const std::string& text, const identity& who, bool reads_private) {
        return view_query(text, who, reads_private);
      });
    if (subscriptions.definition_followed()) {
      // Clients hear of commits at once, or once durable: the definition follows the same road.
      std::string json = module_def_json(def);
      subscriptions.announce_definition(json, false);
      auto announce = [this, json] { subscriptions.announce_definition(json, true); };
      when_durable(announce, [announce](const std::string&) { announce(); });
    }
    bundle_hash = hash;
    keep_image(*module, bundle_hash, false);  // stored by the next wake, once the registry stored the bundle
    bind_names();
    // Timers are kept by table and row bytes: those of rebuilt schedule tables are armed again.
    bool schedule_tables_replaced = false;
    for (auto& altered : change.alter) schedule_tables_replaced = schedule_tables_replaced || altered.schedule;
    if (clear || schedule_tables_replaced || !change.drop.empty()) schedules.clear();
    if (!clear) {
      if (schedule_tables_replaced || !change.drop.empty() || !schedules.armed()) arm_all_schedules();
      return done{};
    }
    // The data is gone and the new module is in place, so it is published
    // either way; an init that failed here after its rehearsal passed is logged.
    if (auto initialized = initialize(); !initialized)
      system_log("Republished with cleared data, but " + initialized.error().message, "Error");
    return done{};
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
                                    database_record record, std::string new_bundle, bool after_crash) {
  return system.spawn([context, record, new_bundle, after_crash](self_ptr self) -> database_actor::behavior_type {
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
    st.context = context;
    st.record = record;
    st.new_bundle = new_bundle;
    st.bundle_hash = record.program_hash;
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
      [=](update_atom, const std::string& code, const std::string& hash, bool clear, bool break_clients) {
        self->state.touch();
        auto reply = self->make_response_promise<bool>();
        auto updated = self->state.update(code, hash, clear, break_clients);
        if (!updated) reply.deliver(make_error(host_errc::invalid_argument, updated.error().message));
        else self->state.when_durable([reply]() mutable { reply.deliver(true); }, fail_reply(reply));
        return reply;
      },
      [=](plan_atom, const std::string& code) -> caf::result<std::string> {
        self->state.touch();
        auto planned = self->state.plan(code);
        if (!planned) return make_error(host_errc::invalid_argument, planned.error().message);
        return *planned;
      },
      [=](call_atom, const reducer_call& req) {
        self->state.touch();
        auto reply = self->make_response_promise<call_result>();
        self->state.call(req, reply);
        return reply;
      },
      [=](connect_atom, const identity& id, const connection_id& connection, const std::string& jwt, bool confirmed,
          bool reads_private, client_sink sink) -> caf::result<bool> {
        self->state.touch();
        return self->state.connect(id, connection, jwt, confirmed, reads_private, sink);
      },
      [=](client_atom, const connection_id& connection, const client_request& request) {
        self->state.touch();
        self->state.on_client(connection, request);
      },
      [=](client_atom, const connection_id&) { return true; },
      [=](route_atom, const route_request& req) {
        self->state.touch();
        auto reply = self->make_response_promise<route_response>();
        self->state.serve_route(req, reply);
        return reply;
      },
      [=](sql_atom, const identity& caller, std::uint8_t held, const std::string& query) {
        self->state.touch();
        auto reply = self->make_response_promise<sql_reply>();
        self->state.sql(caller, role(held), query, reply);
        return reply;
      },
      [=](schema_atom, const connection_id& connection) -> caf::result<std::string> {
        self->state.touch();
        if (auto woke = self->state.wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
        self->state.subscriptions.follow_definition(connection);
        return module_def_json(self->state.def);
      },
      [=](describe_atom, std::uint32_t version) -> caf::result<std::string> {
        self->state.touch();
        if (auto woke = self->state.wake(); !woke) return make_error(host_errc::invalid_argument, woke.error().message);
        return version == 10 ? module_def_v10_json(self->state.def) : module_def_json(self->state.def);
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
      // These keep the database neither awake nor loaded: the registry asks them of every database.
      [=](usage_atom) { return self->state.usage(); },
      [=](queries_atom) { return self->state.subscriptions.report(); },
      [=](access_atom, const std::vector<identity>& lost) {
        self->state.subscriptions.disconnect_readers({lost.begin(), lost.end()},
                                                     "your role on this database no longer reads private data");
        self->state.client_gauges();
      },
      [=](doze_atom, std::int64_t quiet_micros) {
        auto& st = self->state;
        auto quiet = std::chrono::duration_cast<std::chrono::microseconds>(st.sleep_timer.quiet_for()).count();
        if (!st.idle() || quiet < quiet_micros) return false;  // used since the budget measured it
        st.fall_asleep(true);
        return true;
      },
    };
  });
}

} // namespace orrery

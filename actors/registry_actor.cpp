#include "actors/registry_actor.hpp"

#include "actors/access_book.hpp"
#include "actors/detail/memory_budget.hpp"
#include "actors/host_metrics.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/blake3.hpp"
#include "runtime/types/names.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <malloc.h>
#include <map>
#include <set>

namespace orrery {
namespace {

using json = nlohmann::json;

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json to_json(const database_record& r) {
  return {{"id", r.id},           {"identity", r.database_identity.to_hex()},
          {"owner", r.owner.to_hex()}, {"names", r.names},
          {"program", r.program_hash}, {"locked", r.locked},
          {"created", r.created_micros}, {"updated", r.updated_micros}};
}

/// The record stored as `text`, or nullopt with `error` saying what is wrong with it.
std::optional<database_record> from_json(std::string_view text, std::string& error) {
  try {
    json j = json::parse(text);
    database_record r;
    r.id = j.at("id").get<std::uint64_t>();
    auto database_identity = identity::from_hex(j.at("identity").get<std::string>());
    auto owner = identity::from_hex(j.at("owner").get<std::string>());
    if (!database_identity || !owner) {
      error = "its identity or owner is not 64 hex digits";
      return std::nullopt;
    }
    r.database_identity = *database_identity;
    r.owner = *owner;
    r.names = j.at("names").get<std::vector<std::string>>();
    r.program_hash = j.at("program").get<std::string>();
    r.locked = j.at("locked").get<bool>();
    r.created_micros = j.at("created").get<std::int64_t>();
    r.updated_micros = j.value("updated", r.created_micros);  // records written before updates were timed
    return r;
  } catch (const json::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

/// The error a handler returns when something it called threw.
caf::error internal_failure(const char* doing, const std::exception& e) {
  return make_error(host_errc::storage_failure,
                    std::string("the host failed while ") + doing + ": " + e.what() + "; try again");
}

/// Runs a handler's body, turning an exception into an error reply: an exception
/// escaping a handler would stop the registry and with it every database.
template <class F>
auto guarded(const char* doing, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_failure(doing, e);
  }
}

/// A database identity nobody can mint a token for: derived from a random
/// subject under an issuer no token uses.
identity fresh_database_identity() {
  return identity::from_claims("orrery-database", random_uuid());
}

struct registry_state {
  store* db = nullptr;
  database_context context;
  log_actor logs;
  std::map<std::uint64_t, database_actor> live;  // awake databases
  // When each database that sleeps, or slept last, has its next schedule (µs
  // since the epoch), and the wake timer pending for it.
  std::map<std::uint64_t, std::int64_t> due, timers;
  std::chrono::steady_clock::time_point last_trim;
  std::set<std::uint64_t> crashed;  // died with commits perhaps in flight
  bool trim_pending = false;
  std::set<std::string> pending;                 // names and identities being created
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, database_record> records;
  std::map<std::string, std::uint64_t> by_name;
  std::map<identity, std::uint64_t> by_identity;
  access_book access;  // grants, projects, teams
  std::string access_unreadable;  // why the stored access book could not be read

  /// Reads every record. A record that cannot be read is skipped and reported
  /// (on the host's error output and in that database's log): the host serves
  /// the others rather than refusing to start.
  void load() {
    if (auto v = db->get(keys::next_database_id)) next_id = read_u64(*v);
    if (auto stored = db->get(keys::access_book)) {
      // Unreadable, it grants nobody anything (owners keep their databases),
      // and it is not overwritten: access changes are refused until it is mended.
      access = access_book::parse(*stored, access_unreadable);
      if (!access_unreadable.empty())
        std::cerr << "orrery: the access book cannot be read, so only owners have access: " << access_unreadable
                  << std::endl;
    }
    db->scan(keys::records, [&](std::string_view key, std::string_view value) {
      std::string problem;
      auto r = from_json(value, problem);
      if (!r) {
        std::uint64_t id = read_u64(key.substr(keys::records.size()));
        std::string message = "The registry record of database " + std::to_string(id) + " (store key " +
                              std::string(keys::records) + std::to_string(id) + ") cannot be read: " + problem +
                              ". The database is not served until the record is restored from a backup.";
        std::cerr << "orrery: " << message << std::endl;
        system_log(id, message, "Error");
        next_id = std::max(next_id, id + 1);
        return true;
      }
      follow_migration(*r);
      index(*r);
      next_id = std::max(next_id, r->id + 1);  // ids are never reused
      return true;
    });
    db->scan(keys::due_times, [&](std::string_view key, std::string_view value) {
      std::string_view id_bytes = key.substr(keys::due_times.size());
      if (id_bytes.size() == 8 && value.size() == 8) due[read_u64(id_bytes)] = std::int64_t(read_u64(value));
      return true;
    });
  }

  /// Wakes database `id` when `when` comes, unless it sleeps again with
  /// another due time first. One timer per database and due time.
  void wake_at(std::uint64_t id, std::int64_t when, caf::local_actor* self) {
    due[id] = when;
    if (auto pending = timers.find(id); pending != timers.end() && pending->second == when) return;
    timers[id] = when;
    auto delay = std::chrono::microseconds(std::max<std::int64_t>(0, when - now_micros()));
    caf::delayed_anon_send(caf::actor_cast<registry_actor>(self), delay, wake_atom::value, id, when);
  }

  /// Database `id`'s actor `sleeper` has ended; `next_due` is its next
  /// schedule (0: none; unchanged_due: as last heard).
  void fell_asleep(std::uint64_t id, const caf::actor_addr& sleeper, std::int64_t next_due, caf::local_actor* self) {
    auto it = live.find(id);
    if (it == live.end() || it->second.address() != sleeper) return;
    self->demonitor(it->second.address());
    live.erase(it);
    give_back_memory(self);
    if (next_due == unchanged_due) {
      if (auto last = due.find(id); last != due.end()) wake_at(id, last->second, self);
      return;
    }
    write_batch batch;
    if (next_due) {
      std::string value;
      append_u64(value, std::uint64_t(next_due));
      batch.put(keys::due_time(id), value);
      wake_at(id, next_due, self);
    } else {
      batch.erase(keys::due_time(id));
      due.erase(id);
    }
    if (auto s = db->write(batch, false); !s.ok())
      system_log(id, "Recording when the sleeping database's next schedule is due failed: " + s.error, "Error");
  }

  /// Hands the memory sleeping databases freed back to the system (malloc
  /// keeps freed pages in its arenas otherwise), at most once a second.
  void give_back_memory(caf::local_actor* self) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_trim >= std::chrono::seconds(1)) {
      last_trim = now;
      malloc_trim(0);
    } else if (!trim_pending) {
      trim_pending = true;
      caf::delayed_anon_send(caf::actor_cast<registry_actor>(self), std::chrono::seconds(1), idle_atom::value);
    }
  }

  /// A sleeping database's schedule is due: its actor starts, or the awake
  /// one is told, and arms its schedules if it has not yet.
  void wake_for_schedule(std::uint64_t id, std::int64_t when, caf::local_actor* self) {
    if (auto timer = timers.find(id); timer != timers.end() && timer->second == when) timers.erase(timer);
    auto it = due.find(id);
    if (it == due.end() || it->second != when) return;  // it slept again with another due time
    auto r = records.find(id);
    if (r == records.end()) return;
    caf::anon_send(actor_for(r->second, self), wake_atom::value);
  }

  void index(const database_record& r) {
    records[r.id] = r;
    by_identity[r.database_identity] = r.id;
    for (auto& name : r.names) by_name[name] = r.id;
  }

  void unindex(const database_record& r) {
    by_identity.erase(r.database_identity);
    for (auto& name : r.names) by_name.erase(name);
    records.erase(r.id);
  }

  database_record* find(const std::string& target) {
    std::optional<std::uint64_t> id;
    if (auto ident = identity::from_hex(target)) {
      if (auto it = by_identity.find(*ident); it != by_identity.end()) id = it->second;
    } else if (auto it = by_name.find(target); it != by_name.end()) {
      id = it->second;
    }
    if (!id) return nullptr;
    auto it = records.find(*id);
    return it == records.end() ? nullptr : &it->second;
  }

  caf::error no_such(const std::string& target) {
    return make_error(host_errc::no_such_database, "no such database: `" + target + "`");
  }

  /// Database `target` if the caller's role on it permits `wanted`, else
  /// nullptr with `err` saying why not.
  database_record* authorized(const identity& caller, const std::string& target, action wanted, caf::error& err) {
    database_record* r = find(target);
    if (!r) {
      err = no_such(target);
      return nullptr;
    }
    role held = access.role_of(caller, *r);
    if (!permits(held, wanted)) {
      err = make_error(host_errc::not_owner, refusal(caller.to_hex(), held, wanted, target));
      return nullptr;
    }
    return r;
  }

  /// Writes the access book with `batch`.
  void put_access(write_batch& batch) const { batch.put(keys::access_book, access.to_json()); }

  /// Modules are stored once per content hash: databases of one module share it.
  void store_program(write_batch& batch, const std::string& hash, const std::string& bundle) const {
    if (!db->get(keys::program(hash))) batch.put(keys::program(hash), bundle);
  }

  /// A module no database uses any more: its bundle and its image.
  static void erase_program(write_batch& batch, const std::string& hash) {
    batch.erase(keys::program(hash));
    batch.erase(keys::program_image(hash));
  }

  bool program_used_elsewhere(const std::string& hash, std::uint64_t except) const {
    for (auto& [id, r] : records)
      if (id != except && r.program_hash == hash) return true;
    return false;
  }

  void system_log(std::uint64_t id, std::string message, const char* level = "Info") {
    log_record line{level, now_micros(), "orrery", "", 0, "", std::move(message)};
    caf::anon_send(logs, append_atom::value, id, std::move(line));
  }

  /// Makes `actor` the live actor of database `id` and watches it: when it dies
  /// the registry hears of it (see `on_down`) and starts a new one on demand.
  void watch(std::uint64_t id, const database_actor& actor, caf::local_actor* self) {
    live[id] = actor;
    self->monitor(actor);
  }

  /// The actor of `r`, spawned (asleep until its first message) if needed.
  /// A migration is written with its module; a record that did not follow
  /// (a crash, or an update whose answer never came) follows now, so the
  /// database never loads a module over another module's tables.
  void follow_migration(database_record& r) {
    auto migrated = db->get(keys::running_module(r.id));
    if (!migrated || *migrated == r.program_hash || !db->get(keys::program(*migrated))) return;
    system_log(r.id, "Recovered the module of the last migration, " + migrated->substr(0, 16) +
                       ", which the record did not yet name");
    r.program_hash = *migrated;
    r.updated_micros = now_micros();
    write_batch batch;
    batch.put(keys::record(r.id), to_json(r).dump());
    (void)db->write(batch, true);
  }

  database_actor actor_for(const database_record& r, caf::local_actor* self) {
    auto it = live.find(r.id);
    if (it != live.end()) return it->second;
    auto stored = records.find(r.id);
    if (stored != records.end()) follow_migration(stored->second);
    const database_record& current = stored != records.end() ? stored->second : r;
    auto actor = spawn_database_actor(self->system(), context, current, {}, crashed.erase(r.id) > 0);
    watch(r.id, actor, self);
    return actor;
  }

  /// A watched database actor ended. One still in `live` was not stopped by the
  /// registry (those leave `live` first): it crashed. Forget it, so the next
  /// request starts a fresh one, and say why in the database's log.
  void on_down(const caf::down_msg& msg, caf::local_actor* self) {
    auto it = std::find_if(live.begin(), live.end(),
                           [&](const auto& entry) { return entry.second.address() == msg.source; });
    if (it == live.end()) return;
    std::uint64_t id = it->first;
    live.erase(it);
    crashed.insert(id);
    if (context.metrics) {  // it counts nobody now
      auto f = context.metrics->of(id);
      f->awake = false;
      f->clients = 0;
      f->subscriptions = 0;
      f->memory_bytes = 0;
    }
    system_log(id,
               "Database stopped unexpectedly (" + exit_reason_text(msg.reason, self) +
                 "); requests in flight failed, and it starts again with its next request",
               "Error");
  }

  static std::string exit_reason_text(const caf::error& reason, caf::local_actor* self) {
    if (reason.category() == caf::atom("system") &&
        reason.code() == static_cast<std::uint8_t>(caf::sec::runtime_error))
      return "an exception escaped its handler; the host's output has its message";
    if (reason.category() == caf::atom("orrery")) return error_message(reason);
    return self->system().render(reason);
  }

  caf::error commit(write_batch& batch) {
    if (auto s = db->write(batch, true); !s.ok())
      return make_error(host_errc::storage_failure, "storage write failed: " + s.error);
    return caf::none;
  }
};

using self_ptr = registry_actor::stateful_pointer<registry_state>;

// Stops a database's actor (its commits become durable first), then erases its data.
void discard(self_ptr self, database_actor actor, std::uint64_t id, std::function<void()> then) {
  auto erase = [self, id, then] {
    write_batch batch;
    batch.erase_prefix(keys::database(id));
    (void)self->state.db->write(batch, true);
    then();
  };
  if (!actor) return erase();
  self->request(actor, std::chrono::seconds(30), stop_atom::value)
    .then([erase](bool) { erase(); }, [erase](caf::error&) { erase(); });
}

/// Records database `id`'s new module once its actor has taken it. Reads the
/// record as it is now and changes only its module, so a rename or lock made
/// while the module loaded stands; a database deleted meanwhile stays deleted.
caf::error persist_update(self_ptr self, std::uint64_t id, const std::string& hash, const std::string& bundle,
                          bool clear, database_record& updated) {
  auto& st = self->state;
  auto current = st.records.find(id);
  if (current == st.records.end()) {
    // The database stored the module with its migration: it goes with the database.
    if (!st.program_used_elsewhere(hash, id)) {
      write_batch batch;
      st.erase_program(batch, hash);
      (void)st.commit(batch);
    }
    return make_error(host_errc::no_such_database,
                      "the database was deleted while its new module was loading; nothing was published");
  }
  updated = current->second;
  const std::string previous = updated.program_hash;
  updated.program_hash = hash;
  updated.updated_micros = now_micros();
  write_batch batch;
  st.store_program(batch, hash, bundle);
  if (previous != hash && !st.program_used_elsewhere(previous, id)) st.erase_program(batch, previous);
  batch.put(keys::record(id), to_json(updated).dump());
  if (auto err = st.commit(batch)) return err;
  current->second.program_hash = hash;  // names and identity are unchanged: the indexes stand
  current->second.updated_micros = updated.updated_micros;
  st.system_log(id, "Updated module of database " + updated.display_name() + " (" +
                      updated.database_identity.to_hex() + "), module " + hash.substr(0, 16) +
                      (clear ? ", data cleared" : ""));
  return caf::none;
}

/// Records a database whose actor has just run its module's init. Nobody else
/// can reach the record before this (its name is reserved in `pending`), but
/// the names are checked again so two databases never share one.
caf::error persist_create(self_ptr self, const database_record& record, const std::string& bundle, bool clear) {
  auto& st = self->state;
  for (auto& name : record.names)
    if (st.by_name.count(name)) return make_error(host_errc::name_taken, name);
  if (st.by_identity.count(record.database_identity))
    return make_error(host_errc::invalid_argument,
                      "a database with identity " + record.database_identity.to_hex() + " already exists");
  write_batch batch;
  st.store_program(batch, record.program_hash, bundle);
  batch.put(keys::record(record.id), to_json(record).dump());
  if (auto err = st.commit(batch)) return err;
  st.index(record);
  st.system_log(record.id, "Created database " + record.display_name() + " (" + record.database_identity.to_hex() +
                             "), module " + record.program_hash.substr(0, 16) + (clear ? ", data cleared" : ""));
  return caf::none;
}

/// Gives database `id` its new module. Only the id is kept across the wait: a
/// rename, lock or delete may land before the database actor answers, and the
/// record is re-read then. A database that fell asleep as the update reached
/// it bounces it, and the next attempt wakes it.
void send_update(self_ptr self, std::uint64_t id, const publish_request& req, const std::string& hash,
                 caf::typed_response_promise<publish_result> rp, int attempts) {
  auto record = self->state.records.find(id);
  if (record == self->state.records.end()) {
    rp.deliver(make_error(host_errc::no_such_database, "the database was deleted while its new module was sent"));
    return;
  }
  database_actor actor = self->state.actor_for(record->second, self);
  self->request(actor, std::chrono::minutes(2), update_atom::value, req.bundle, hash, req.clear, req.break_clients)
    .then(
      [=](bool) mutable {
        database_record updated;
        caf::error err = guarded("recording the new module", [&]() -> caf::error {
          return persist_update(self, id, hash, req.bundle, req.clear, updated);
        });
        if (err) rp.deliver(err);
        else rp.deliver(publish_result{updated, false});
      },
      [=](caf::error& err) mutable {
        if (err == caf::sec::request_receiver_down && attempts > 1) return send_update(self, id, req, hash, rp, attempts - 1);
        rp.deliver(err);
      });
}

/// The stored bundle of module `hash` for `caller`, who must be allowed to
/// publish to a database of it: a module hash names code, and only its
/// publishers may reuse it.
caf::error stored_bundle(registry_state& st, const identity& caller, const std::string& hash, std::string& out) {
  const bool hex = hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!hex) return make_error(host_errc::invalid_argument, "a module hash is 64 lowercase hex digits");
  const bool publishes_one = std::any_of(st.records.begin(), st.records.end(), [&](const auto& entry) {
    return entry.second.program_hash == hash && permits(st.access.role_of(caller, entry.second), action::publish);
  });
  auto bundle = publishes_one ? st.db->get(keys::program(hash)) : std::nullopt;
  if (!bundle)
    return make_error(host_errc::invalid_argument, "no module with hash `" + hash + "` is stored for identity " +
                                                     caller.to_hex() + "; publish its bundle instead");
  out = std::move(*bundle);
  return caf::none;
}

caf::result<publish_result> publish_bundle(self_ptr self, const publish_request& req);

/// A publish with a bundle, or with the hash of a module stored for the caller.
caf::result<publish_result> publish(self_ptr self, const publish_request& req) {
  if (req.module_hash.empty()) return publish_bundle(self, req);
  if (!req.bundle.empty())
    return make_error(host_errc::invalid_argument, "send a module bundle or a module hash, not both");
  publish_request stored = req;  // no bundle to copy
  if (auto err = stored_bundle(self->state, req.caller, req.module_hash, stored.bundle)) return err;
  return publish_bundle(self, stored);
}

caf::result<publish_result> publish_bundle(self_ptr self, const publish_request& req) {
  auto& st = self->state;
  if (req.bundle.empty())
    return make_error(host_errc::invalid_argument, "the module bundle is empty");
  database_record* existing = st.find(req.target);
  const bool by_identity = looks_like_identity(req.target);
  if (!existing && !req.target.empty() && !by_identity) {
    if (auto problem = database_name_error(req.target))
      return make_error(host_errc::invalid_argument, *problem);
  }
  if (existing) {
    role held = st.access.role_of(req.caller, *existing);
    if (held == role::none && !by_identity) return make_error(host_errc::name_taken, req.target);
    if (!permits(held, action::publish))
      return make_error(host_errc::not_owner, refusal(req.caller.to_hex(), held, action::publish, req.target));
  }
  if (!req.target.empty() && st.pending.count(req.target))
    return make_error(host_errc::invalid_argument, "`" + req.target + "` is being published right now; try again");

  // A stored module's hash is known; an uploaded bundle is hashed.
  std::string hash = req.module_hash.empty() ? to_hex(blake3(req.bundle).data(), 32) : req.module_hash;
  // The promise takes over the reply: every early return above and below it
  // must come before it is made.
  if (existing) {
    auto rp = self->make_response_promise<publish_result>();
    send_update(self, existing->id, req, hash, rp, 3);
    return rp;
  }

  database_record record;
  record.id = st.next_id++;
  if (by_identity) {
    auto wanted = identity::from_hex(req.target);
    if (!wanted) return make_error(host_errc::invalid_argument, "`" + req.target + "` is not a 64-digit hex identity");
    record.database_identity = *wanted;
  } else {
    record.database_identity = fresh_database_identity();
  }
  record.owner = req.caller;
  if (!req.target.empty() && !by_identity) record.names.push_back(req.target);
  record.created_micros = record.updated_micros = now_micros();
  record.program_hash = hash;
  {
    // Ids are never reused, even when the creation fails.
    write_batch batch;
    std::string next;
    append_u64(next, st.next_id);
    batch.put(keys::next_database_id, next);
    if (auto err = st.commit(batch)) return err;
  }
  std::string reserved = req.target;
  if (!reserved.empty()) st.pending.insert(reserved);
  auto rp = self->make_response_promise<publish_result>();
  auto actor = spawn_database_actor(self->system(), st.context, record, req.bundle);
  self->request(actor, std::chrono::minutes(2), create_atom::value)
    .then(
      [=](bool) mutable {
        self->state.pending.erase(reserved);
        caf::error err = guarded("recording the new database", [&]() -> caf::error {
          return persist_create(self, record, req.bundle, req.clear);
        });
        if (err) {
          // Not recorded, so not kept: stop the actor and erase what init wrote.
          discard(self, actor, record.id, [rp, err]() mutable { rp.deliver(err); });
          return;
        }
        self->state.watch(record.id, actor, self);
        rp.deliver(publish_result{record, true});
      },
      [=](caf::error& err) mutable {
        // Nothing of a database whose module failed is kept.
        discard(self, actor, record.id, [self, reserved, rp, err]() mutable {
          self->state.pending.erase(reserved);
          rp.deliver(err);
        });
      });
  return rp;
}

/// Asks every awake database what it holds and puts the least recently used
/// idle ones to sleep while the total is over the budget; then again in a second.
void keep_within_budget(self_ptr self) {
  const std::uint64_t budget = self->state.context.memory_budget_bytes;
  if (!budget) return;
  auto again = [self] { self->delayed_send(self, std::chrono::seconds(1), usage_atom::value); };
  struct round {
    std::vector<std::pair<std::uint64_t, database_usage>> awake;
    std::map<std::uint64_t, database_actor> actors;
    std::size_t pending = 0;
  };
  auto r = std::make_shared<round>();
  r->actors = self->state.live;
  r->pending = r->actors.size();
  if (!r->pending) return again();
  auto answered = [self, r, budget, again] {
    if (--r->pending) return;
    for (auto& [id, usage] : detail::least_recently_used_over(r->awake, budget))
      self->request(r->actors[id], std::chrono::seconds(5), doze_atom::value, usage.idle_micros)
        .then([](bool) {}, [](caf::error&) {});
    again();
  };
  for (auto& [id, actor] : r->actors)
    self->request(actor, std::chrono::seconds(1), usage_atom::value)
      .then([r, id = id, answered](const database_usage& usage) { r->awake.emplace_back(id, usage); answered(); },
            [answered](caf::error&) { answered(); });
}

caf::result<database_record> remove(self_ptr self, const identity& caller,
                                    const std::string& target) {
  auto& st = self->state;
  caf::error err;
  auto found = st.authorized(caller, target, action::delete_database, err);
  if (!found) return err;
  database_record record = *found;
  if (record.locked)
    return make_error(host_errc::locked, "database `" + target +
                                             "` is locked; unlock it before deleting it");
  write_batch batch;
  batch.erase(keys::record(record.id));
  batch.erase(keys::due_time(record.id));
  st.due.erase(record.id);
  st.timers.erase(record.id);
  if (!st.program_used_elsewhere(record.program_hash, record.id))
    st.erase_program(batch, record.program_hash);
  access_book before = st.access;
  st.access.forget_database(record.id);
  if (st.access_unreadable.empty()) st.put_access(batch);  // an unreadable book stays as stored
  if (auto err = st.commit(batch)) {
    st.access = std::move(before);
    return err;
  }
  st.unindex(record);
  self->send(st.logs, drop_atom::value, record.id);
  database_actor actor;
  if (auto it = st.live.find(record.id); it != st.live.end()) {
    actor = it->second;
    st.live.erase(it);
  }
  auto rp = self->make_response_promise<database_record>();
  discard(self, actor, record.id, [self, rp, record]() mutable {
    if (self->state.context.metrics) self->state.context.metrics->forget(record.id);
    rp.deliver(record);
  });
  return rp;
}

sync_figures sync_counts(self_ptr self) {
  if (!self->state.context.durability) return {};
  auto c = self->state.context.durability->counters();
  return {c.syncs, c.batches, c.sync_micros};
}

/// Every awake database sets its gauges (answering for its usage), and the
/// host's metrics take a point of history; again after the metrics' interval.
void sample_metrics(self_ptr self) {
  auto& st = self->state;
  for (auto& [id, actor] : st.live)
    self->request(actor, std::chrono::seconds(5), usage_atom::value).then([](const database_usage&) {}, [](caf::error&) {});
  st.context.metrics->sample(now_micros(), sync_counts(self));
  self->delayed_send(self, st.context.metrics->interval(), sample_atom::value);
}

/// The Prometheus text of every database's figures and the host's.
std::string metrics_text(self_ptr self) {
  auto& st = self->state;
  std::map<std::uint64_t, database_label> labels;
  for (auto& [id, r] : st.records) labels[id] = {r.database_identity.to_hex(), r.names.empty() ? "" : r.names.front()};
  return st.context.metrics->prometheus(labels, sync_counts(self));
}

caf::result<database_record> set_names(self_ptr self, const identity& caller,
                                       const std::string& target,
                                       const std::vector<std::string>& names, bool replace) {
  auto& st = self->state;
  caf::error err;
  auto found = st.authorized(caller, target, action::rename, err);
  if (!found) return err;
  database_record record = *found;
  if (replace && names.empty())
    return make_error(host_errc::invalid_argument, "give at least one name");
  for (auto& name : names) {
    if (auto problem = database_name_error(name))
      return make_error(host_errc::invalid_argument, *problem);
    if (auto it = st.by_name.find(name); it != st.by_name.end() && it->second != record.id)
      return make_error(host_errc::name_taken, name);
    if (st.pending.count(name))
      return make_error(host_errc::invalid_argument, "`" + name + "` is being published right now; try again");
  }
  database_record updated = record;
  if (replace) updated.names.clear();
  for (auto& name : names)
    if (std::find(updated.names.begin(), updated.names.end(), name) == updated.names.end())
      updated.names.push_back(name);
  write_batch batch;
  batch.put(keys::record(updated.id), to_json(updated).dump());
  if (auto err = st.commit(batch)) return err;
  st.unindex(record);
  st.index(updated);
  std::string joined;
  for (auto& n : updated.names) joined += (joined.empty() ? "" : ", ") + n;
  st.system_log(updated.id, "Names of database are now: " + joined);
  return updated;
}

caf::result<database_record> set_lock(self_ptr self, const identity& caller,
                                      const std::string& target, bool locked) {
  auto& st = self->state;
  caf::error err;
  auto found = st.authorized(caller, target, action::lock, err);
  if (!found) return err;
  database_record updated = *found;
  updated.locked = locked;
  write_batch batch;
  batch.put(keys::record(updated.id), to_json(updated).dump());
  if (auto err = st.commit(batch)) return err;
  st.index(updated);
  st.system_log(updated.id, locked ? "Database locked" : "Database unlocked");
  return updated;
}

/// Closes what the identities that may no longer read database `r_after`'s
/// private data and logs (as the book or the record changed) still have open:
/// their WebSocket connections that read private data, and their log follows.
void close_lost_readers(self_ptr self, const access_book& before, const database_record& r_before,
                        const database_record& r_after) {
  auto lost = readers_lost(before, self->state.access, r_before, r_after);
  if (lost.empty()) return;
  std::vector<identity> who(lost.begin(), lost.end());
  self->send(self->state.logs, closed_atom::value, r_after.id, who);
  if (auto actor = self->state.live.find(r_after.id); actor != self->state.live.end())
    self->send(actor->second, access_atom::value, who);
}

/// Hands database `target` to identity `to` (owner only). The old owner keeps no role.
caf::result<std::string> transfer(self_ptr self, const access_request& req) {
  auto& st = self->state;
  caf::error err;
  auto found = st.authorized(req.caller, req.target, action::transfer_ownership, err);
  if (!found) return err;
  auto to = identity::from_hex(req.subject);
  if (!to) return make_error(host_errc::invalid_argument, "transfer to a 64-digit hex identity, not `" + req.subject + "`");
  const database_record before = *found;
  database_record updated = before;
  updated.owner = *to;
  write_batch batch;
  batch.put(keys::record(updated.id), to_json(updated).dump());
  // The new owner's own grant would otherwise come back if ownership moved on.
  const access_book book_before = st.access;
  if (st.access.drop_database_grant(updated.id, to->to_hex()) && st.access_unreadable.empty()) st.put_access(batch);
  if (auto err = st.commit(batch)) {
    st.access = book_before;
    return err;
  }
  st.index(updated);
  close_lost_readers(self, book_before, before, updated);
  st.system_log(updated.id, "Access: " + req.caller.to_hex() + " transferred ownership to " + to->to_hex());
  return nlohmann::json{{"database", updated.display_name()}, {"owner", to->to_hex()}}.dump();
}

/// An access request (grants, projects, teams, transfers), written at once.
caf::result<std::string> manage_access(self_ptr self, const access_request& req) {
  auto& st = self->state;
  if (req.scope == "database" && req.verb == "transfer") return transfer(self, req);
  access_book before = st.access;
  access_outcome out;
  auto find = [&](const std::string& target) -> const database_record* { return st.find(target); };
  if (auto err = st.access.apply(req, find, st.records, out)) return err;
  if (!out.changed) return out.reply;
  if (!st.access_unreadable.empty()) {
    st.access = std::move(before);
    return make_error(host_errc::storage_failure,
                      "the host's access book cannot be read (" + st.access_unreadable + "); access cannot change");
  }
  write_batch batch;
  st.put_access(batch);
  if (auto err = st.commit(batch)) {
    st.access = std::move(before);
    return err;
  }
  // The databases a change reaches are those it logs to.
  std::set<std::uint64_t> reached;
  for (auto& [id, line] : out.log_lines) {
    st.system_log(id, line);
    reached.insert(id);
  }
  for (auto id : reached)
    if (auto r = st.records.find(id); r != st.records.end()) close_lost_readers(self, before, r->second, r->second);
  return out.reply;
}

} // namespace

registry_actor spawn_registry_actor(caf::actor_system& system, const database_context& context) {
  return system.spawn([context](self_ptr self) -> registry_actor::behavior_type {
    self->state.db = context.db;
    self->state.context = context;
    self->state.context.sleeps = caf::actor_cast<sleep_listener>(self);
    self->state.logs = context.logs;
    self->state.load();
    if (context.memory_budget_bytes) self->send(self, usage_atom::value);
    if (context.metrics) self->send(self, sample_atom::value);
    for (auto [id, when] : std::map<std::uint64_t, std::int64_t>(self->state.due)) self->state.wake_at(id, when, self);
    // Databases stop with the registry.
    self->set_exit_handler([self](const caf::exit_msg& msg) {
      for (auto& [id, actor] : self->state.live) self->send_exit(actor, msg.reason);
      self->quit(msg.reason);
    });
    // A database actor that dies is started again by the next request for it.
    self->set_down_handler([self](const caf::down_msg& msg) { self->state.on_down(msg, self); });
    return {
      [=](publish_atom, const publish_request& req) -> caf::result<publish_result> {
        return guarded("publishing", [&] { return publish(self, req); });
      },
      [=](sample_atom) { sample_metrics(self); },
      [=](metrics_atom) -> caf::result<std::string> {
        if (!self->state.context.metrics) return std::string();
        return metrics_text(self);
      },
      [=](lookup_atom, const std::string& target) -> caf::result<database_record> {
        return guarded("looking up a database", [&]() -> caf::result<database_record> {
          if (auto r = self->state.find(target)) return *r;
          return self->state.no_such(target);
        });
      },
      [=](open_atom, const std::string& target) -> caf::result<database_record, database_actor> {
        return guarded("starting a database", [&]() -> caf::result<database_record, database_actor> {
          auto r = self->state.find(target);
          if (!r) return self->state.no_such(target);
          return {*r, self->state.actor_for(*r, self)};
        });
      },
      [=](role_atom, const identity& caller, const std::string& target)
        -> caf::result<database_record, std::uint8_t> {
        auto r = self->state.find(target);
        if (!r) return self->state.no_such(target);
        return {*r, std::uint8_t(self->state.access.role_of(caller, *r))};
      },
      [=](access_atom, const access_request& req) -> caf::result<std::string> {
        return guarded("changing access", [&] { return manage_access(self, req); });
      },
      [=](list_atom, const identity& owner) -> caf::result<std::vector<database_record>> {
        return guarded("listing databases", [&]() -> caf::result<std::vector<database_record>> {
          std::vector<database_record> owned;
          for (auto& [id, r] : self->state.records)
            if (r.owner == owner) owned.push_back(r);
          return owned;
        });
      },
      [=](delete_atom, const identity& caller, const std::string& target) -> caf::result<database_record> {
        return guarded("deleting a database", [&] { return remove(self, caller, target); });
      },
      [=](names_atom, const identity& caller, const std::string& target, const std::vector<std::string>& names,
          bool replace) -> caf::result<database_record> {
        return guarded("renaming a database", [&] { return set_names(self, caller, target, names, replace); });
      },
      [=](lock_atom, const identity& caller, const std::string& target, bool locked) -> caf::result<database_record> {
        return guarded("locking a database", [&] { return set_lock(self, caller, target, locked); });
      },
      [=](sleep_atom, std::uint64_t id, std::int64_t next_due) {
        self->state.fell_asleep(id, caf::actor_cast<caf::actor_addr>(self->current_sender()), next_due, self);
      },
      [=](wake_atom, std::uint64_t id, std::int64_t when) { self->state.wake_for_schedule(id, when, self); },
      [=](idle_atom) {
        self->state.trim_pending = false;
        self->state.give_back_memory(self);
      },
      [=](usage_atom, const identity& caller, const std::string& target)
        -> caf::result<database_record, database_usage> {
        return guarded("measuring a database", [&]() -> caf::result<database_record, database_usage> {
          caf::error err;
          auto found = self->state.authorized(caller, target, action::observe, err);
          if (!found) return err;
          database_record record = *found;
          auto it = self->state.live.find(record.id);
          if (it == self->state.live.end()) return {record, database_usage{}};  // asleep: not woken to be measured
          auto rp = self->make_response_promise<database_record, database_usage>();
          self->request(it->second, std::chrono::seconds(5), usage_atom::value)
            .then([rp, record](const database_usage& usage) mutable { rp.deliver(record, usage); },
                  [rp, record](caf::error& err) mutable {
                    if (err == caf::sec::request_receiver_down) rp.deliver(record, database_usage{});  // fell asleep
                    else rp.deliver(std::move(err));
                  });
          return rp;
        });
      },
      [=](queries_atom, const identity& caller, const std::string& target)
        -> caf::result<std::vector<subscribed_query>> {
        return guarded("listing subscribed queries", [&]() -> caf::result<std::vector<subscribed_query>> {
          caf::error err;
          auto found = self->state.authorized(caller, target, action::observe, err);
          if (!found) return err;
          using queries = std::vector<subscribed_query>;
          auto it = self->state.live.find(found->id);
          if (it == self->state.live.end()) return queries{};  // asleep: no subscribers
          auto rp = self->make_response_promise<queries>();
          self->request(it->second, std::chrono::seconds(5), queries_atom::value)
            .then([rp](const queries& list) mutable { rp.deliver(list); },
                  [rp](caf::error& err) mutable {
                    if (err == caf::sec::request_receiver_down) rp.deliver(queries{});  // fell asleep meanwhile
                    else rp.deliver(std::move(err));
                  });
          return rp;
        });
      },
      [=](usage_atom) { keep_within_budget(self); },
    };
  });
}

} // namespace orrery

#include "actors/registry_actor.hpp"

#include "runtime/blake3.hpp"
#include "runtime/names.hpp"
#include "runtime/store.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <set>

namespace orrery {
namespace {

using json = nlohmann::json;

constexpr const char* next_id_key = "r/next_id";

std::string record_key(std::uint64_t id) {
  std::string key = "r/db/";
  append_u64(key, id);
  return key;
}

std::string program_key(const std::string& hash) { return "p/" + hash; }

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json to_json(const database_record& r) {
  return {{"id", r.id},           {"identity", r.database_identity.to_hex()},
          {"owner", r.owner.to_hex()}, {"names", r.names},
          {"program", r.program_hash}, {"locked", r.locked},
          {"created", r.created_micros}};
}

database_record from_json(const json& j) {
  database_record r;
  r.id = j.at("id").get<std::uint64_t>();
  r.database_identity = *identity::from_hex(j.at("identity").get<std::string>());
  r.owner = *identity::from_hex(j.at("owner").get<std::string>());
  r.names = j.at("names").get<std::vector<std::string>>();
  r.program_hash = j.at("program").get<std::string>();
  r.locked = j.at("locked").get<bool>();
  r.created_micros = j.at("created").get<std::int64_t>();
  return r;
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
  std::set<std::string> pending;                 // names and identities being created
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, database_record> records;
  std::map<std::string, std::uint64_t> by_name;
  std::map<identity, std::uint64_t> by_identity;

  void load() {
    if (auto v = db->get(next_id_key)) next_id = read_u64(*v);
    db->scan("r/db/", [&](std::string_view, std::string_view value) {
      index(from_json(json::parse(value)));
      return true;
    });
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
    return id ? &records.at(*id) : nullptr;
  }

  caf::error no_such(const std::string& target) {
    return make_error(host_errc::no_such_database, "no such database: `" + target + "`");
  }

  /// The caller's database `target`, or nullptr with `err` saying why not.
  database_record* owned(const identity& caller, const std::string& target, caf::error& err) {
    database_record* r = find(target);
    if (!r) err = no_such(target);
    else if (r->owner != caller)
      err = make_error(host_errc::not_owner, "identity " + caller.to_hex() +
                                                 " does not own database `" + target + "`");
    return err ? nullptr : r;
  }

  bool program_used_elsewhere(const std::string& hash, std::uint64_t except) const {
    for (auto& [id, r] : records)
      if (id != except && r.program_hash == hash) return true;
    return false;
  }

  void system_log(std::uint64_t id, std::string message) {
    log_record line{"Info", now_micros(), "orrery", "", 0, "", std::move(message)};
    caf::anon_send(logs, append_atom::value, id, std::move(line));
  }

  /// The actor of `r`, spawned (asleep until its first message) if needed.
  database_actor actor_for(const database_record& r, caf::local_actor* self) {
    auto it = live.find(r.id);
    if (it != live.end()) return it->second;
    std::string bundle = db->get(program_key(r.program_hash)).value_or("");
    auto actor = spawn_database_actor(self->system(), context, r, std::move(bundle));
    live.emplace(r.id, actor);
    return actor;
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
    batch.erase_prefix(database_data_prefix(id));
    (void)self->state.db->write(batch, true);
    then();
  };
  if (!actor) return erase();
  self->request(actor, std::chrono::seconds(30), stop_atom::value)
    .then([erase](bool) { erase(); }, [erase](caf::error&) { erase(); });
}

caf::result<publish_result> publish(self_ptr self, const publish_request& req) {
  auto& st = self->state;
  if (req.bundle.empty())
    return make_error(host_errc::invalid_argument, "the module bundle is empty");
  database_record* existing = st.find(req.target);
  const bool by_identity = looks_like_identity(req.target);
  if (!existing && !req.target.empty() && !by_identity) {
    if (auto problem = database_name_error(req.target))
      return make_error(host_errc::invalid_argument, *problem);
  }
  if (existing && existing->owner != req.caller) {
    if (by_identity)
      return make_error(host_errc::not_owner, "identity " + req.caller.to_hex() +
                                                  " does not own database " + req.target);
    return make_error(host_errc::name_taken, req.target);
  }
  if (!req.target.empty() && st.pending.count(req.target))
    return make_error(host_errc::invalid_argument, "`" + req.target + "` is being published right now; try again");

  std::string hash = to_hex(blake3(req.bundle).data(), 32);
  auto rp = self->make_response_promise<publish_result>();
  // Stores the record and module once the database actor accepted the module.
  auto persist = [self, hash, bundle = req.bundle, clear = req.clear](database_record record, bool created) -> caf::error {
    auto& st = self->state;
    write_batch batch;
    batch.put(program_key(hash), bundle);
    if (!created && record.program_hash != hash && !st.program_used_elsewhere(record.program_hash, record.id))
      batch.erase(program_key(record.program_hash));
    record.program_hash = hash;
    batch.put(record_key(record.id), to_json(record).dump());
    if (auto err = st.commit(batch)) return err;
    st.index(record);
    std::string what = created ? "Created database " : "Updated module of database ";
    st.system_log(record.id, what + record.display_name() + " (" + record.database_identity.to_hex() +
                               "), module " + hash.substr(0, 16) + (clear ? ", data cleared" : ""));
    return caf::none;
  };

  if (existing) {
    database_record record = *existing;
    database_actor actor = st.actor_for(record, self);
    self->request(actor, std::chrono::minutes(2), update_atom::value, req.bundle, req.clear)
      .then(
        [=](bool) mutable {
          if (auto err = persist(record, false)) {
            rp.deliver(err);
            return;
          }
          record.program_hash = hash;
          rp.deliver(publish_result{record, false});
        },
        [=](caf::error& err) mutable { rp.deliver(err); });
    return rp;
  }

  database_record record;
  record.id = st.next_id++;
  record.database_identity = by_identity ? *identity::from_hex(req.target) : fresh_database_identity();
  record.owner = req.caller;
  if (!req.target.empty() && !by_identity) record.names.push_back(req.target);
  record.created_micros = now_micros();
  record.program_hash = hash;
  {
    // Ids are never reused, even when the creation fails.
    write_batch batch;
    std::string next;
    append_u64(next, st.next_id);
    batch.put(next_id_key, next);
    if (auto err = st.commit(batch)) return err;
  }
  std::string reserved = req.target;
  if (!reserved.empty()) st.pending.insert(reserved);
  auto actor = spawn_database_actor(self->system(), st.context, record, req.bundle);
  self->request(actor, std::chrono::minutes(2), create_atom::value)
    .then(
      [=](bool) mutable {
        self->state.pending.erase(reserved);
        if (auto err = persist(record, true)) {
          rp.deliver(err);
          return;
        }
        self->state.live.emplace(record.id, actor);
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

caf::result<database_record> remove(self_ptr self, const identity& caller,
                                    const std::string& target) {
  auto& st = self->state;
  caf::error err;
  auto found = st.owned(caller, target, err);
  if (!found) return err;
  database_record record = *found;
  if (record.locked)
    return make_error(host_errc::locked, "database `" + target +
                                             "` is locked; unlock it before deleting it");
  write_batch batch;
  batch.erase(record_key(record.id));
  if (!st.program_used_elsewhere(record.program_hash, record.id))
    batch.erase(program_key(record.program_hash));
  if (auto err = st.commit(batch)) return err;
  st.unindex(record);
  self->send(st.logs, drop_atom::value, record.id);
  database_actor actor;
  if (auto it = st.live.find(record.id); it != st.live.end()) {
    actor = it->second;
    st.live.erase(it);
  }
  auto rp = self->make_response_promise<database_record>();
  discard(self, actor, record.id, [rp, record]() mutable { rp.deliver(record); });
  return rp;
}

caf::result<database_record> set_names(self_ptr self, const identity& caller,
                                       const std::string& target,
                                       const std::vector<std::string>& names, bool replace) {
  auto& st = self->state;
  caf::error err;
  auto found = st.owned(caller, target, err);
  if (!found) return err;
  database_record record = *found;
  if (replace && names.empty())
    return make_error(host_errc::invalid_argument, "give at least one name");
  for (auto& name : names) {
    if (auto problem = database_name_error(name))
      return make_error(host_errc::invalid_argument, *problem);
    if (auto it = st.by_name.find(name); it != st.by_name.end() && it->second != record.id)
      return make_error(host_errc::name_taken, name);
  }
  database_record updated = record;
  if (replace) updated.names.clear();
  for (auto& name : names)
    if (std::find(updated.names.begin(), updated.names.end(), name) == updated.names.end())
      updated.names.push_back(name);
  write_batch batch;
  batch.put(record_key(updated.id), to_json(updated).dump());
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
  auto found = st.owned(caller, target, err);
  if (!found) return err;
  database_record updated = *found;
  updated.locked = locked;
  write_batch batch;
  batch.put(record_key(updated.id), to_json(updated).dump());
  if (auto err = st.commit(batch)) return err;
  st.index(updated);
  st.system_log(updated.id, locked ? "Database locked" : "Database unlocked");
  return updated;
}

} // namespace

std::string database_data_prefix(std::uint64_t id) {
  std::string key = "d/";
  append_u64(key, id);
  return key;
}

registry_actor spawn_registry_actor(caf::actor_system& system, const database_context& context) {
  return system.spawn([context](self_ptr self) -> registry_actor::behavior_type {
    self->state.db = context.db;
    self->state.context = context;
    self->state.logs = context.logs;
    self->state.load();
    // Databases stop with the registry.
    self->set_exit_handler([self](const caf::exit_msg& msg) {
      for (auto& [id, actor] : self->state.live) self->send_exit(actor, msg.reason);
      self->quit(msg.reason);
    });
    return {
      [=](publish_atom, const publish_request& req) { return publish(self, req); },
      [=](lookup_atom, const std::string& target) -> caf::result<database_record> {
        if (auto r = self->state.find(target)) return *r;
        return self->state.no_such(target);
      },
      [=](open_atom, const std::string& target) -> caf::result<database_record, database_actor> {
        auto r = self->state.find(target);
        if (!r) return self->state.no_such(target);
        return {*r, self->state.actor_for(*r, self)};
      },
      [=](list_atom, const identity& owner) {
        std::vector<database_record> owned;
        for (auto& [id, r] : self->state.records)
          if (r.owner == owner) owned.push_back(r);
        return owned;
      },
      [=](delete_atom, const identity& caller, const std::string& target) {
        return remove(self, caller, target);
      },
      [=](names_atom, const identity& caller, const std::string& target,
          const std::vector<std::string>& names,
          bool replace) { return set_names(self, caller, target, names, replace); },
      [=](lock_atom, const identity& caller, const std::string& target, bool locked) {
        return set_lock(self, caller, target, locked);
      },
    };
  });
}

} // namespace orrery

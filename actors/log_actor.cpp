#include "actors/log_actor.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <unordered_map>

namespace orrery {
namespace {

struct database_log {
  bool loaded = false;
  std::uint64_t first = 0;  // oldest kept sequence number
  std::uint64_t next = 0;   // sequence number of the next line
  std::deque<std::uint32_t> sizes;  // of the kept lines, oldest first
  std::size_t bytes = 0;            // their sum
  std::vector<log_listener> followers;
};

struct log_state {
  store* db = nullptr;
  std::unordered_map<std::uint64_t, database_log> logs;

  database_log& log_of(std::uint64_t id) {
    database_log& log = logs[id];
    if (!log.loaded) {
      std::string prefix = keys::log(id);
      db->scan(prefix, [&](std::string_view key, std::string_view value) {
        log.next = read_u64(key.substr(prefix.size())) + 1;
        log.sizes.push_back(std::uint32_t(value.size()));
        log.bytes += value.size();
        return true;
      });
      log.first = log.next - log.sizes.size();  // kept lines are numbered without gaps
      log.loaded = true;
    }
    return log;
  }

  std::vector<std::string> tail(std::uint64_t id, std::uint32_t n) {
    std::vector<std::string> lines;
    std::uint32_t wanted = n == 0 ? max_lines_per_database : n;
    db->scan_reverse(keys::log(id), [&](std::string_view, std::string_view value) {
      lines.emplace_back(value);
      return lines.size() < wanted;
    });
    std::reverse(lines.begin(), lines.end());
    return lines;
  }
};

} // namespace

std::string log_line_json(const log_record& r) {
  nlohmann::json line = {{"level", r.level}, {"ts", r.ts_micros}};
  if (!r.target.empty()) line["target"] = r.target;
  if (!r.filename.empty()) line["filename"] = r.filename;
  if (r.line_number != 0) line["line_number"] = r.line_number;
  if (!r.function.empty()) line["function"] = r.function;
  line["message"] = r.message;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

log_actor spawn_log_actor(caf::actor_system& system, store& db) {
  using self_ptr = log_actor::stateful_pointer<log_state>;
  return system.spawn([&db](self_ptr self) -> log_actor::behavior_type {
    self->state.db = &db;
    self->set_down_handler([=](const caf::down_msg& down) {
      for (auto& [id, log] : self->state.logs) {
        auto& f = log.followers;
        f.erase(std::remove_if(f.begin(), f.end(),
                               [&](const log_listener& l) { return l.address() == down.source; }),
                f.end());
      }
    });
    return {
      [=](append_atom, std::uint64_t id, log_record record) {
        auto& log = self->state.log_of(id);
        if (record.message.size() > max_log_message_bytes) {
          record.message.resize(max_log_message_bytes);
          record.message += " [cut at " + std::to_string(max_log_message_bytes) + " bytes]";
        }
        std::string text = log_line_json(record);
        write_batch batch;
        batch.put(keys::log_line(id, log.next++), text);
        log.sizes.push_back(std::uint32_t(text.size()));
        log.bytes += text.size();
        // Lines past either cap go oldest first, in the same write.
        while (log.sizes.size() > max_lines_per_database || log.bytes > max_bytes_per_database) {
          batch.erase(keys::log_line(id, log.first++));
          log.bytes -= log.sizes.front();
          log.sizes.pop_front();
        }
        if (auto s = self->state.db->write(batch, false); !s.ok())
          caf::aout(self) << "log write failed: " << s.error << std::endl;
        for (auto& follower : log.followers) self->send(follower, line_atom::value, text);
      },
      [=](tail_atom, std::uint64_t id, std::uint32_t n) { return self->state.tail(id, n); },
      [=](follow_atom, std::uint64_t id, std::uint32_t n,
          log_listener listener) -> caf::result<std::vector<std::string>> {
        auto& followers = self->state.log_of(id).followers;
        if (followers.size() >= max_followers_per_database)
          return make_error(host_errc::busy, "this database's log has " + std::to_string(max_followers_per_database) +
                                               " followers already, the most it serves");
        self->monitor(listener);
        followers.push_back(listener);
        return self->state.tail(id, n);
      },
      [=](drop_atom, std::uint64_t id) {
        for (auto& follower : self->state.logs[id].followers)
          self->send(follower, closed_atom::value);
        self->state.logs.erase(id);
        write_batch batch;
        batch.erase_prefix(keys::log(id));
        if (auto s = self->state.db->write(batch, false); !s.ok())
          caf::aout(self) << "log removal failed: " << s.error << std::endl;
      },
    };
  });
}

} // namespace orrery

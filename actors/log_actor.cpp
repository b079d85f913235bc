#include "actors/log_actor.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <unordered_map>

namespace orrery {
namespace {

struct kept_line {
  std::uint32_t size = 0;
  std::int64_t ts_micros = 0;
};

struct database_log {
  bool loaded = false;
  std::uint64_t first = 0;  // oldest kept sequence number
  std::uint64_t next = 0;   // sequence number of the next line
  std::deque<kept_line> kept;  // oldest first
  std::size_t bytes = 0;       // their sizes' sum
  std::vector<std::pair<log_listener, identity>> followers;  // and who follows
};

// The "ts" of a stored line (JSON written by log_line_json); 0 if absent.
std::int64_t ts_of(std::string_view line) {
  auto at = line.find("\"ts\":");
  return at == std::string_view::npos ? 0 : std::strtoll(std::string(line.substr(at + 5, 20)).c_str(), nullptr, 10);
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct log_state {
  store* db = nullptr;
  log_retention retention;
  std::unordered_map<std::uint64_t, database_log> logs;

  database_log& log_of(std::uint64_t id) {
    database_log& log = logs[id];
    if (!log.loaded) {
      std::string prefix = keys::log(id);
      db->scan(prefix, [&](std::string_view key, std::string_view value) {
        log.next = read_u64(key.substr(prefix.size())) + 1;
        log.kept.push_back({std::uint32_t(value.size()), ts_of(value)});
        log.bytes += value.size();
        return true;
      });
      log.first = log.next - log.kept.size();  // kept lines are numbered without gaps
      log.loaded = true;
    }
    return log;
  }

  /// Drops, in `batch`, the oldest lines past the retention (count, bytes, age).
  void keep_within_retention(std::uint64_t id, database_log& log, write_batch& batch, std::int64_t now_micros) {
    auto too_old = [&] {
      return retention.max_age_micros > 0 && log.kept.front().ts_micros < now_micros - retention.max_age_micros;
    };
    while (!log.kept.empty() &&
           (log.kept.size() > max_lines_per_database || log.bytes > retention.max_bytes || too_old())) {
      batch.erase(keys::log_line(id, log.first++));
      log.bytes -= log.kept.front().size;
      log.kept.pop_front();
    }
  }

  std::vector<std::string> search(std::uint64_t id, const std::string& grep, std::int64_t since, std::int64_t until,
                                  int min_rank, std::uint32_t n) {
    const std::string needle = lower(grep);
    since = std::max(since, oldest_kept(now()));
    std::deque<std::string> lines;
    db->scan(keys::log(id), [&](std::string_view, std::string_view value) {
      const std::int64_t ts = ts_of(value);
      if (since && ts < since) return true;
      if (until && ts >= until) return false;  // lines are in time order
      // The raw line holds the text wherever its message does: only such lines are read whole.
      if (!needle.empty() && lower(std::string(value)).find(needle) == std::string::npos) return true;
      auto line = nlohmann::json::parse(value, nullptr, false);
      if (line.is_discarded()) return true;
      if (min_rank >= 0 && log_level_rank(line.value("level", "")) < min_rank) return true;
      if (!needle.empty() && lower(line.value("message", "")).find(needle) == std::string::npos) return true;
      lines.emplace_back(value);
      if (n && lines.size() > n) lines.pop_front();
      return true;
    });
    return {lines.begin(), lines.end()};
  }

  /// Lines before this are past the age retention, whether or not a later
  /// line has dropped them yet (a quiet database's log only shrinks on append).
  std::int64_t oldest_kept(std::int64_t now_micros) const {
    return retention.max_age_micros > 0 ? now_micros - retention.max_age_micros : 0;
  }

  std::vector<std::string> tail(std::uint64_t id, std::uint32_t n) {
    std::vector<std::string> lines;
    std::uint32_t wanted = n == 0 ? max_lines_per_database : n;
    const std::int64_t oldest = oldest_kept(now());
    db->scan_reverse(keys::log(id), [&](std::string_view, std::string_view value) {
      if (oldest && ts_of(value) < oldest) return false;  // older ones are older still
      lines.emplace_back(value);
      return lines.size() < wanted;
    });
    std::reverse(lines.begin(), lines.end());
    return lines;
  }

  static std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
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

int log_level_rank(std::string level) {
  level = lower(std::move(level));
  static const char* order[] = {"trace", "debug", "info", "warn", "error", "panic"};
  for (int i = 0; i < 6; ++i)
    if (level == order[i]) return i;
  return -1;
}

log_actor spawn_log_actor(caf::actor_system& system, store& db, log_retention retention) {
  using self_ptr = log_actor::stateful_pointer<log_state>;
  return system.spawn([&db, retention](self_ptr self) -> log_actor::behavior_type {
    self->state.db = &db;
    self->state.retention = retention;
    self->set_down_handler([=](const caf::down_msg& down) {
      for (auto& [id, log] : self->state.logs) {
        auto& f = log.followers;
        f.erase(std::remove_if(f.begin(), f.end(),
                               [&](const auto& f) { return f.first.address() == down.source; }),
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
        log.kept.push_back({std::uint32_t(text.size()), record.ts_micros});
        log.bytes += text.size();
        // Lines past the retention go oldest first, in the same write.
        self->state.keep_within_retention(id, log, batch, record.ts_micros);
        if (auto s = self->state.db->write(batch, false); !s.ok())
          caf::aout(self) << "log write failed: " << s.error << std::endl;
        for (auto& [follower, who] : log.followers) self->send(follower, line_atom::value, text);
      },
      [=](tail_atom, std::uint64_t id, std::uint32_t n) { return self->state.tail(id, n); },
      [=](search_atom, std::uint64_t id, const std::string& grep, std::int64_t since, std::int64_t until,
          const std::string& level, std::uint32_t n) {
        return self->state.search(id, grep, since, until, level.empty() ? -1 : log_level_rank(level), n);
      },
      [=](follow_atom, std::uint64_t id, std::uint32_t n, const identity& who,
          log_listener listener) -> caf::result<std::vector<std::string>> {
        auto& followers = self->state.log_of(id).followers;
        if (followers.size() >= max_followers_per_database)
          return make_error(host_errc::busy, "this database's log has " + std::to_string(max_followers_per_database) +
                                               " followers already, the most it serves");
        self->monitor(listener);
        followers.emplace_back(listener, who);
        return self->state.tail(id, n);
      },
      [=](drop_atom, std::uint64_t id) {
        for (auto& [follower, who] : self->state.logs[id].followers) self->send(follower, closed_atom::value);
        self->state.logs.erase(id);
        write_batch batch;
        batch.erase_prefix(keys::log(id));
        if (auto s = self->state.db->write(batch, false); !s.ok())
          caf::aout(self) << "log removal failed: " << s.error << std::endl;
      },
      [=](closed_atom, std::uint64_t id, const std::vector<identity>& lost) {
        auto found = self->state.logs.find(id);
        if (found == self->state.logs.end()) return;
        auto& f = found->second.followers;
        for (auto it = f.begin(); it != f.end();) {
          if (std::find(lost.begin(), lost.end(), it->second) == lost.end()) {
            ++it;
            continue;
          }
          self->send(it->first, closed_atom::value);
          it = f.erase(it);
        }
      },
    };
  });
}

} // namespace orrery

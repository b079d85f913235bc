#include "actors/detail/schedule_book.hpp"

#include "runtime/types/bsatn.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

namespace orrery::detail {
namespace {

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// A repeating schedule fires at most this often: an interval of zero would
// keep the database busy with nothing but its schedule.
constexpr std::int64_t min_interval_micros = 1000;

} // namespace

schedule_book::schedule_book(database_actor::pointer self) : self_(self) {}

void schedule_book::arm(const table& t, std::string_view row, std::int64_t resumed_due) {
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
  std::uint64_t generation = next_generation_++;
  auto key = std::make_pair(schema.id, std::string(row));
  delay_micros = std::max<std::int64_t>(0, delay_micros);
  schedules_[key] = {generation, now_micros() + delay_micros};
  self_->delayed_send(self_, std::chrono::microseconds(delay_micros), schedule_atom::value, schema.id, key.second,
                      generation);
}

void schedule_book::arm_all(const datastore& ds, store* db, const std::string& kept_key) {
  armed_ = true;
  auto resumed = take_kept(db, kept_key);
  for (const table* t : ds.tables())
    if (t->schema().schedule)
      t->scan([&](row_id r) {
        auto due = resumed.find({t->schema().id, std::string(t->row(r))});
        arm(*t, t->row(r), due == resumed.end() ? 0 : due->second);
      });
}

void schedule_book::apply(const datastore& ds, const commit_result& committed) {
  for (auto& update : committed.updates) {
    const table* t = ds.find_table(update.table);
    if (!t || !t->schema().schedule) continue;
    for (auto& row : update.deletes) schedules_.erase({update.table, row});
    for (auto& row : update.inserts) arm(*t, row);
  }
}

bool schedule_book::current(table_id table, const std::string& row, std::uint64_t generation) const {
  auto it = schedules_.find({table, row});
  return it != schedules_.end() && it->second.generation == generation;
}

void schedule_book::drop(table_id table, const std::string& row) { schedules_.erase({table, row}); }

std::int64_t schedule_book::next_due() const {
  std::int64_t next_due = armed_ ? 0 : unchanged_due;
  for (auto& [row, armed] : schedules_)
    if (next_due == 0 || armed.due_micros < next_due) next_due = std::max<std::int64_t>(1, armed.due_micros);
  return next_due;
}

void schedule_book::keep_while_asleep(store* db, const std::string& kept_key) const {
  if (!armed_ || !db || schedules_.empty()) return;
  std::string kept;
  for (auto& [key, armed] : schedules_) {
    append_u64(kept, key.first);
    append_u64(kept, key.second.size());
    kept += key.second;
    append_u64(kept, std::uint64_t(armed.due_micros));
  }
  write_batch batch;
  batch.put(kept_key, kept);
  (void)db->write(batch, false);  // lost in a crash, intervals start over from the wake
}

std::map<schedule_book::row_key, std::int64_t> schedule_book::take_kept(store* db, const std::string& kept_key) {
  std::map<row_key, std::int64_t> out;
  auto kept = db ? db->get(kept_key) : std::nullopt;
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
  batch.erase(kept_key);
  (void)db->write(batch, false);
  return out;
}

} // namespace orrery::detail

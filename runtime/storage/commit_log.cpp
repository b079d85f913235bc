#include "runtime/storage/commit_log.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"

#include <optional>

namespace orrery {

// A record is a run of changes, each
//   <table: u32 LE> <'d' or 'i'> <row length: u32 LE> <row: BSATN>
namespace {
void append_u32_le(std::string& out, std::uint32_t n) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = char(n >> (8 * i));
  out.append(bytes, 4);
}

bool read_u32_le(std::string_view& in, std::uint32_t& n) {
  if (in.size() < 4) return false;
  n = 0;
  for (int i = 0; i < 4; ++i) n |= std::uint32_t(std::uint8_t(in[std::size_t(i)])) << (8 * i);
  in.remove_prefix(4);
  return true;
}
} // namespace

commit_log::commit_log(std::uint64_t database_id) : database_id_(database_id) {}

result<done> commit_log::recover(const store& db, const visitor& visit) {
  std::optional<failure> problem;
  db.scan(keys::commit_log(database_id_), [&](std::string_view key, std::string_view record) {
    const std::uint64_t sequence = read_u64(key.substr(key.size() - 8));
    next_sequence_ = sequence + 1;
    logged_bytes_ += record.size();
    std::string_view in = record;
    while (!in.empty()) {
      std::uint32_t table = 0, length = 0;
      char what = 0;
      bool whole = read_u32_le(in, table) && !in.empty();
      if (whole) {
        what = in[0];
        in.remove_prefix(1);
        whole = (what == char(change::deleted) || what == char(change::inserted)) && read_u32_le(in, length) &&
                length <= in.size();
      }
      if (!whole) {
        problem = fail(errc::storage, "commit record " + std::to_string(sequence) + " of database " +
                                        std::to_string(database_id_) + " is damaged");
        return false;
      }
      if (auto applied = visit(table, change(what), in.substr(0, length)); !applied) {
        problem = fail(errc::storage, "commit record " + std::to_string(sequence) + " of database " +
                                        std::to_string(database_id_) + ": " + applied.error().message);
        return false;
      }
      in.remove_prefix(length);
    }
    return true;
  });
  if (problem) return *problem;
  return done{};
}

void commit_log::add(std::uint32_t table, change what, std::string_view row) {
  append_u32_le(record_, table);
  record_ += char(what);
  append_u32_le(record_, std::uint32_t(row.size()));
  record_ += row;
}

void commit_log::append_record(write_batch& batch) {
  if (record_.empty()) return;
  batch.put(keys::commit_record(database_id_, next_sequence_++), record_);
  logged_bytes_ += record_.size();
  // Keep a small buffer for the next record, not the one a large commit grew.
  if (record_.capacity() > (64 << 10)) std::string().swap(record_);
  else record_.clear();
}

void commit_log::erase(write_batch& batch) {
  if (logged_bytes_ == 0) return;
  batch.erase_prefix(keys::commit_log(database_id_));
  logged_bytes_ = 0;
}

} // namespace orrery

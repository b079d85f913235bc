#include "runtime/storage/commit_log.hpp"

#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"

#include <optional>

namespace orrery {

// A record is a run of changes, each (BSATN: u32s little-endian)
//   <table: u32> <'d' or 'i'> <row length: u32> <row: BSATN>

commit_log::commit_log(std::uint64_t database_id) : database_id_(database_id) {}

result<done> commit_log::recover(const store& db, const visitor& visit) {
  std::optional<failure> problem;
  db.scan(keys::commit_log(database_id_), [&](std::string_view key, std::string_view record) {
    const std::uint64_t sequence = read_u64(key.substr(key.size() - 8));
    next_sequence_ = sequence + 1;
    logged_bytes_ += record.size();
    bsatn_reader in(record);
    try {
      while (in.remaining() != 0) {
        std::uint32_t table = in.u32();
        char what = char(in.u8());
        if (what != char(change::deleted) && what != char(change::inserted)) throw bsatn_error("unknown change");
        std::string_view row = in.take(in.u32());
        if (auto applied = visit(table, change(what), row); !applied) {
          problem = fail(errc::storage, "commit record " + std::to_string(sequence) + " of database " +
                                          std::to_string(database_id_) + ": " + applied.error().message);
          return false;
        }
      }
    } catch (const bsatn_error&) {
      problem = fail(errc::storage, "commit record " + std::to_string(sequence) + " of database " +
                                      std::to_string(database_id_) + " is damaged");
      return false;
    }
    return true;
  });
  if (problem) return *problem;
  return done{};
}

void commit_log::add(std::uint32_t table, change what, std::string_view row) {
  bsatn_writer out(record_);
  out.u32(table);
  out.u8(std::uint8_t(what));
  out.string(row);
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

#pragma once
// Row bytes of one table, addressed by row id. Rows live in 1 MiB chunks (no
// copying as a table grows); freed space is reused by rows of the same size.
// A row's bytes stay readable after `unlink` until `release`, so a
// transaction's iterators keep seeing what they scanned.

#include "runtime/btree.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace orrery {

class row_arena {
public:
  row_id add(std::string_view bytes);
  std::string_view get(row_id row) const;
  /// Hides a row from `live` without freeing it.
  void set_live(row_id row, bool live);
  bool live(row_id row) const { return row < slots_.size() && (slots_[row] & live_bit); }
  /// Frees a row's id and bytes for reuse.
  void release(row_id row);
  /// One past the highest row id ever handed out.
  row_id end() const { return row_id(slots_.size()); }
  std::size_t live_count() const { return live_count_; }

private:
  static constexpr std::uint64_t live_bit = 1ull << 63;
  static constexpr std::uint64_t free_slot = ~0ull >> 1;
  static constexpr std::size_t chunk_size = 1 << 20;

  std::uint64_t allocate(std::size_t size);
  const char* at(std::uint64_t offset) const {
    return chunks_[offset / chunk_size].get() + offset % chunk_size;
  }

  std::vector<std::unique_ptr<char[]>> chunks_;
  std::size_t used_in_last_ = chunk_size;
  std::vector<std::uint64_t> slots_;  // offset (+ live bit) per row id
  std::vector<row_id> free_ids_;
  std::unordered_map<std::uint32_t, std::vector<std::uint64_t>> free_space_;  // by block size
  std::size_t live_count_ = 0;
};

} // namespace orrery

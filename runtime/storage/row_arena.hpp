#pragma once
// Row bytes of one table. A row's id is where it lives: its offset in the
// arena, so finding a row from an index is one memory access. Rows live in
// 1 MiB chunks (nothing moves as a table grows), each behind a 4-byte header
// holding its length and a live bit; freed space is reused by rows of the same
// size. A row's bytes stay readable after it is hidden (`set_live(false)`)
// until `release`, so a transaction's iterators keep seeing what they scanned.

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace orrery {

using row_id = std::uint64_t;

class row_arena {
public:
  row_id add(std::string_view bytes);
  std::string_view get(row_id row) const {
    const char* p = at(row);
    return {p + header_size, header(p) & length_mask};
  }
  bool live(row_id row) const { return header(at(row)) & live_bit; }
  void set_live(row_id row, bool live);
  /// Frees a row's space for reuse.
  void release(row_id row);
  std::size_t live_count() const { return live_count_; }
  /// Bytes of row blocks handed out (live, hidden and free for reuse).
  std::size_t bytes_used() const {
    std::size_t used = 0;
    for (auto& c : chunks_) used += c.used;
    return used;
  }
  /// Visits every live row in arena order.
  void scan(const std::function<void(row_id)>& visit) const;

private:
  static constexpr std::uint32_t live_bit = 1u << 31;
  static constexpr std::uint32_t length_mask = live_bit - 1;
  static constexpr std::size_t header_size = sizeof(std::uint32_t);
  static constexpr std::size_t chunk_size = 1 << 20;

  struct chunk {
    std::unique_ptr<char[]> bytes;
    std::size_t used = 0;
  };

  static std::uint32_t header(const char* p) {
    std::uint32_t h;
    std::memcpy(&h, p, sizeof h);
    return h;
  }
  const char* at(row_id row) const { return chunks_[row / chunk_size].bytes.get() + row % chunk_size; }
  char* at(row_id row) { return chunks_[row / chunk_size].bytes.get() + row % chunk_size; }
  row_id allocate(std::size_t size);

  std::vector<chunk> chunks_;
  std::unordered_map<std::uint32_t, std::vector<row_id>> free_space_;  // by block size
  std::size_t live_count_ = 0;
};

} // namespace orrery

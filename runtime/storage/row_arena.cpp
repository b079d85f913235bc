#include "runtime/storage/row_arena.hpp"

namespace orrery {

row_id row_arena::allocate(std::size_t size) {
  auto it = free_space_.find(std::uint32_t(size));
  if (it != free_space_.end() && !it->second.empty()) {
    row_id row = it->second.back();
    it->second.pop_back();
    return row;
  }
  if (chunks_.empty() || chunks_.back().used + size > chunk_size) {
    // A row larger than a chunk gets a chunk of its own size.
    std::size_t capacity = size > chunk_size ? size : chunk_size;
    chunks_.push_back({std::unique_ptr<char[]>(new char[capacity]), 0});  // untouched until used
  }
  chunk& last = chunks_.back();
  row_id row = (chunks_.size() - 1) * chunk_size + last.used;
  last.used += size;
  if (size > chunk_size) last.used = chunk_size;  // full: the next row starts a new chunk
  return row;
}

row_id row_arena::add(std::string_view bytes) {
  row_id row = allocate(header_size + bytes.size());
  char* p = at(row);
  std::uint32_t h = std::uint32_t(bytes.size()) | live_bit;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + header_size, bytes.data(), bytes.size());
  ++live_count_;
  return row;
}

void row_arena::set_live(row_id row, bool live) {
  char* p = at(row);
  std::uint32_t h = header(p);
  if (live == bool(h & live_bit)) return;
  h = live ? (h | live_bit) : (h & ~live_bit);
  std::memcpy(p, &h, sizeof h);
  live ? ++live_count_ : --live_count_;
}

void row_arena::release(row_id row) {
  set_live(row, false);
  free_space_[std::uint32_t(header_size + get(row).size())].push_back(row);
}

void row_arena::scan(const std::function<void(row_id)>& visit) const {
  for (std::size_t c = 0; c < chunks_.size(); ++c) {
    const chunk& ch = chunks_[c];
    std::size_t end = c + 1 == chunks_.size() || ch.used < chunk_size ? ch.used : chunk_size;
    for (std::size_t pos = 0; pos < end;) {
      std::uint32_t h = header(ch.bytes.get() + pos);
      if (h & live_bit) visit(c * chunk_size + pos);
      pos += header_size + (h & length_mask);
      if ((h & length_mask) + header_size > chunk_size) break;  // a large row fills its chunk
    }
  }
}

} // namespace orrery

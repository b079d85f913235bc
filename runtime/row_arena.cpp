#include "runtime/row_arena.hpp"

#include <cstring>

namespace orrery {

std::uint64_t row_arena::allocate(std::size_t size) {
  auto it = free_space_.find(std::uint32_t(size));
  if (it != free_space_.end() && !it->second.empty()) {
    std::uint64_t offset = it->second.back();
    it->second.pop_back();
    return offset;
  }
  if (used_in_last_ + size > chunk_size) {
    if (size > chunk_size) {  // a large row gets a block of its own
      chunks_.push_back(std::unique_ptr<char[]>(new char[size]));
      used_in_last_ = chunk_size;  // the next row starts a fresh chunk
      return (chunks_.size() - 1) * chunk_size;
    }
    chunks_.push_back(std::unique_ptr<char[]>(new char[chunk_size]));  // untouched until used
    used_in_last_ = 0;
  }
  std::uint64_t offset = (chunks_.size() - 1) * chunk_size + used_in_last_;
  used_in_last_ += size;
  return offset;
}

row_id row_arena::add(std::string_view bytes) {
  std::uint32_t len = std::uint32_t(bytes.size());
  std::uint64_t offset = allocate(sizeof len + len);
  char* p = chunks_[offset / chunk_size].get() + offset % chunk_size;
  std::memcpy(p, &len, sizeof len);
  std::memcpy(p + sizeof len, bytes.data(), len);
  row_id row;
  if (!free_ids_.empty()) {
    row = free_ids_.back();
    free_ids_.pop_back();
    slots_[row] = offset | live_bit;
  } else {
    row = row_id(slots_.size());
    slots_.push_back(offset | live_bit);
  }
  ++live_count_;
  return row;
}

std::string_view row_arena::get(row_id row) const {
  const char* p = at(slots_[row] & ~live_bit);
  std::uint32_t len;
  std::memcpy(&len, p, sizeof len);
  return {p + sizeof len, len};
}

void row_arena::set_live(row_id row, bool live) {
  if (live == bool(slots_[row] & live_bit)) return;
  if (live) {
    slots_[row] |= live_bit;
    ++live_count_;
  } else {
    slots_[row] &= ~live_bit;
    --live_count_;
  }
}

void row_arena::release(row_id row) {
  set_live(row, false);
  std::uint64_t offset = slots_[row];
  std::uint32_t size = std::uint32_t(sizeof(std::uint32_t) + get(row).size());
  free_space_[size].push_back(offset);
  slots_[row] = free_slot;
  free_ids_.push_back(row);
}

} // namespace orrery

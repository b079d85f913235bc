#pragma once
// Index keys: column values encoded so that comparing the bytes (memcmp, then
// length) orders them as the values order. Small keys are stored inline.

#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/bsatn.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace orrery {

class index_key {
public:
  index_key() : size_(0), bytes_{} {}
  explicit index_key(std::string_view bytes) { assign(bytes); }
  index_key(const index_key& o) { assign(o.view()); }
  index_key(index_key&& o) noexcept : size_(o.size_) {
    std::memcpy(bytes_, o.bytes_, sizeof bytes_);
    o.size_ = 0;
  }
  index_key& operator=(const index_key& o) {
    if (this != &o) {
      release();
      assign(o.view());
    }
    return *this;
  }
  index_key& operator=(index_key&& o) noexcept {
    if (this != &o) {
      release();
      size_ = o.size_;
      std::memcpy(bytes_, o.bytes_, sizeof bytes_);
      o.size_ = 0;
    }
    return *this;
  }
  ~index_key() { release(); }

  std::string_view view() const { return {data(), size_}; }
  const char* data() const { return size_ <= inline_capacity ? bytes_ : heap(); }
  std::size_t size() const { return size_; }

  friend int compare(const index_key& a, const index_key& b) {
    std::size_t n = a.size_ < b.size_ ? a.size_ : b.size_;
    int c = std::memcmp(a.data(), b.data(), n);
    return c != 0 ? c : (a.size_ < b.size_ ? -1 : a.size_ > b.size_ ? 1 : 0);
  }
  friend bool operator<(const index_key& a, const index_key& b) { return compare(a, b) < 0; }
  friend bool operator==(const index_key& a, const index_key& b) { return a.view() == b.view(); }

private:
  // Keys up to 20 bytes live in `bytes_`; longer ones on the heap, with the
  // pointer stored in `bytes_`. 24 bytes in all, 4-byte aligned.
  static constexpr std::size_t inline_capacity = 20;
  char* heap() const {
    char* p;
    std::memcpy(&p, bytes_, sizeof p);
    return p;
  }
  void assign(std::string_view bytes) {
    size_ = std::uint32_t(bytes.size());
    if (size_ <= inline_capacity) {
      std::memcpy(bytes_, bytes.data(), bytes.size());
    } else {
      char* p = new char[bytes.size()];
      std::memcpy(p, bytes.data(), bytes.size());
      std::memcpy(bytes_, &p, sizeof p);
    }
  }
  void release() {
    if (size_ > inline_capacity) delete[] heap();
    size_ = 0;
  }
  std::uint32_t size_;
  char bytes_[inline_capacity];
};

static_assert(sizeof(index_key) == 24);

struct index_key_hash {
  std::size_t operator()(const index_key& k) const { return std::hash<std::string_view>()(k.view()); }
};

/// Reads one BSATN value of `type` and appends its order-preserving encoding
/// (throws bsatn_error on bad input).
void append_key(std::string& out, const algebraic_type& type, bsatn_reader& in);

/// The smallest byte string greater than every string starting with `prefix`
/// (empty when there is none).
std::string key_prefix_end(std::string_view prefix);

} // namespace orrery

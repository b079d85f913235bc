#pragma once
// BSATN, the binary encoding of algebraic values and types (little-endian,
// length-prefixed strings and arrays, tagged sums). Decoding is strict: bad
// bytes give a failure, never undefined behaviour.

#include "runtime/algebraic_type.hpp"
#include "runtime/result.hpp"
#include "runtime/value.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace orrery {

/// Thrown by bsatn_reader; the public decoders turn it into a failure.
struct bsatn_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class bsatn_reader {
public:
  explicit bsatn_reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  template <class T>
  T fixed() {
    need(sizeof(T));
    T x;
    std::memcpy(&x, p_, sizeof(T));
    p_ += sizeof(T);
    return x;
  }
  std::uint8_t u8() { return fixed<std::uint8_t>(); }
  std::uint32_t u32() { return fixed<std::uint32_t>(); }
  bool boolean();
  std::string_view take(std::size_t n) {
    need(n);
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  /// A length-prefixed UTF-8 string.
  std::string_view string();
  std::size_t remaining() const { return std::size_t(end_ - p_); }
  const char* position() const { return p_; }

private:
  void need(std::size_t n) const {
    if (std::size_t(end_ - p_) < n)
      throw bsatn_error("unexpected end of input: needed " + std::to_string(n) + " more bytes, " +
                        std::to_string(end_ - p_) + " left");
  }
  const char* p_;
  const char* end_;
};

class bsatn_writer {
public:
  explicit bsatn_writer(std::string& out) : out_(out) {}
  template <class T>
  void fixed(T x) {
    char b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void u8(std::uint8_t x) { out_.push_back(char(x)); }
  void u32(std::uint32_t x) { fixed(x); }
  void string(std::string_view s) {
    u32(std::uint32_t(s.size()));
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }

private:
  std::string& out_;
};

/// Appends the BSATN of `v` (the value's shape decides the encoding).
void encode_value(std::string& out, const value& v);
std::string encode_value(const value& v);

/// Decodes exactly one value of `type` filling all of `bytes`.
result<value> decode_value(const algebraic_type& type, std::string_view bytes);
/// Reads one value (throws bsatn_error).
value read_value(const algebraic_type& type, bsatn_reader& in);
/// Checks and steps over one value (throws bsatn_error).
void skip_value(const algebraic_type& type, bsatn_reader& in);
/// nullopt when `bytes` is exactly one valid value of `type`, else why not.
std::optional<std::string> validate(const algebraic_type& type, std::string_view bytes);

/// AlgebraicType in BSATN (the module definition's encoding).
void encode_type(std::string& out, const algebraic_type& type);
algebraic_type read_type(bsatn_reader& in);

} // namespace orrery

#pragma once
// BSATN, the binary encoding of algebraic values and types (little-endian,
// length-prefixed strings and arrays, tagged sums). Decoding is strict: bad
// bytes give a failure, never undefined behaviour.
//
// Decoding untrusted bytes is bounded: nothing is allocated for a length
// prefix before the bytes behind it are present, a type nests at most
// max_type_depth deep (so decoding its values recurses at most that deep), and
// values that take no bytes (units, empty products) may outnumber the bytes
// read by at most max_empty_values, so decoding work stays in proportion to
// the input. A reader is used by one thread at a time.

#include "runtime/result.hpp"
#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/value.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace orrery {

/// Thrown by bsatn_reader; the public decoders turn it into a failure.
struct bsatn_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// How far values that take no bytes (empty products: units, empty structs,
/// the `none` of an Option) may outnumber the bytes one reader has read. They
/// cost time and memory without input to back them: an array of four billion
/// units is four bytes.
inline constexpr std::uint32_t max_empty_values = 65536;

class bsatn_reader {
public:
  explicit bsatn_reader(std::string_view bytes)
      : begin_(bytes.data()), p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

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
  /// An array's element count, refused unless the bytes left can hold that
  /// many elements of `element` (see algebraic_type::min_size), or, for
  /// elements that take no bytes, unless empty_value allows that many more.
  std::uint32_t array_length(const algebraic_type& element);
  /// Counts one value that takes no bytes (an empty product); throws once
  /// such values outnumber the bytes read by more than max_empty_values.
  void empty_value();
  std::size_t remaining() const { return std::size_t(end_ - p_); }
  const char* position() const { return p_; }

private:
  void need(std::size_t n) const {
    if (std::size_t(end_ - p_) < n)
      throw bsatn_error("unexpected end of input: needed " + std::to_string(n) + " more bytes, " +
                        std::to_string(end_ - p_) + " left");
  }
  // Empty values still allowed: max_empty_values plus the bytes read, less
  // the empty values counted.
  std::uint64_t empty_values_left() const {
    return std::uint64_t(max_empty_values) + std::uint64_t(p_ - begin_) - empty_values_;
  }
  const char* begin_;
  const char* p_;
  const char* end_;
  std::uint64_t empty_values_ = 0;
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
/// Reads one type (throws bsatn_error), refusing one nested deeper than
/// max_type_depth; `depth` is how deep the type sits inside an enclosing one.
algebraic_type read_type(bsatn_reader& in, std::size_t depth = 0);

} // namespace orrery

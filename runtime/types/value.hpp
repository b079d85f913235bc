#pragma once
// Algebraic values: what a column, a row or an argument holds. Rows live in
// tables as BSATN bytes; values are built when something needs to look inside
// (SQL, SATS-JSON, migrations). Plain values, safe to copy between threads.

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace orrery {

using i128 = __int128;
using u128 = unsigned __int128;

struct u256 {
  u128 lo = 0, hi = 0;
  friend bool operator==(const u256& a, const u256& b) { return a.lo == b.lo && a.hi == b.hi; }
  friend bool operator<(const u256& a, const u256& b) { return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo; }
};

struct i256 {
  u128 lo = 0;
  i128 hi = 0;
  friend bool operator==(const i256& a, const i256& b) { return a.lo == b.lo && a.hi == b.hi; }
  friend bool operator<(const i256& a, const i256& b) { return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo; }
};

struct value;

struct product_value {
  std::vector<value> fields;
};

struct sum_value {
  std::uint8_t tag = 0;
  std::shared_ptr<const value> payload;  // never null
};

using array_value = std::vector<value>;
using bytes_value = std::vector<std::uint8_t>;  // Array<U8>

struct value {
  using storage =
    std::variant<bool, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t, std::int32_t,
                 std::uint32_t, std::int64_t, std::uint64_t, i128, u128, i256, u256, float,
                 double, std::string, bytes_value, array_value, product_value, sum_value>;
  storage v;

  value() : v(product_value{}) {}
  template <class T, class = std::enable_if_t<!std::is_same_v<std::decay_t<T>, value>>>
  value(T&& x) : v(std::forward<T>(x)) {}

  static value sum(std::uint8_t tag, value payload);
  static value unit() { return product_value{}; }
  static value some(value x) { return sum(0, std::move(x)); }
  static value none() { return sum(1, unit()); }

  template <class T>
  const T* get() const { return std::get_if<T>(&v); }
};

bool operator==(const value& a, const value& b);
inline bool operator!=(const value& a, const value& b) { return !(a == b); }

/// Decimal text of 128- and 256-bit integers.
std::string to_string(u128 x);
std::string to_string(i128 x);
std::string to_string(const u256& x);
std::string to_string(const i256& x);

} // namespace orrery

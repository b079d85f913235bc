#include "runtime/types/value.hpp"

#include <algorithm>

namespace orrery {

value value::sum(std::uint8_t tag, value payload) {
  return value(sum_value{tag, std::make_shared<const value>(std::move(payload))});
}

namespace {
struct equal_visitor {
  const value::storage& other;
  template <class T>
  bool operator()(const T& a) const {
    const T& b = std::get<T>(other);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      return a == b || (a != a && b != b);  // NaN equals NaN, as in a table
    } else if constexpr (std::is_same_v<T, product_value>) {
      return a.fields == b.fields;
    } else if constexpr (std::is_same_v<T, sum_value>) {
      return a.tag == b.tag && *a.payload == *b.payload;
    } else {
      return a == b;
    }
  }
};

std::string u256_decimal(u256 x) {
  if (x.hi == 0) return to_string(x.lo);
  // Repeated division by 10^19 keeps every step inside 128 bits.
  constexpr std::uint64_t base = 10000000000000000000ull;
  std::vector<std::uint64_t> parts;
  while (x.hi != 0 || x.lo != 0) {
    u128 rem = 0;
    u128 words[4] = {x.hi >> 64, x.hi & ~std::uint64_t(0), x.lo >> 64, x.lo & ~std::uint64_t(0)};
    for (auto& w : words) {
      u128 cur = (rem << 64) | w;
      w = cur / base;
      rem = cur % base;
    }
    x.hi = (words[0] << 64) | words[1];
    x.lo = (words[2] << 64) | words[3];
    parts.push_back(std::uint64_t(rem));
  }
  std::string out = std::to_string(parts.back());
  for (auto it = parts.rbegin() + 1; it != parts.rend(); ++it) {
    std::string digits = std::to_string(*it);
    out += std::string(19 - digits.size(), '0') + digits;
  }
  return out;
}
} // namespace

bool operator==(const value& a, const value& b) {
  return a.v.index() == b.v.index() && std::visit(equal_visitor{b.v}, a.v);
}

std::string to_string(u128 x) {
  if (x == 0) return "0";
  std::string s;
  while (x) {
    s.push_back(char('0' + int(x % 10)));
    x /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

std::string to_string(i128 x) {
  if (x >= 0) return to_string(u128(x));
  return "-" + to_string(u128(0) - u128(x));
}

std::string to_string(const u256& x) { return u256_decimal(x); }

std::string to_string(const i256& x) {
  if (x.hi >= 0) return u256_decimal(u256{x.lo, u128(x.hi)});
  // Two's complement negation across both halves.
  u128 lo = ~x.lo + 1;
  u128 hi = ~u128(x.hi) + (lo == 0 ? 1 : 0);
  return "-" + u256_decimal(u256{lo, hi});
}

} // namespace orrery

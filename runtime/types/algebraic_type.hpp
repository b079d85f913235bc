#pragma once
// The algebraic type system of modules and tables: sums, products, arrays,
// strings, booleans, integers up to 256 bits and floats. The special products
// (Identity, ConnectionId, Timestamp, TimeDuration, Uuid) and sums (Option,
// ScheduleAt) are ordinary types recognised by their field and variant names.
// Immutable values; safe to share between threads.
//
// Types, and the values of a type, are walked recursively (comparison, names,
// encoding, decoding, destruction), so every type read from outside the host
// (BSATN, SATS-JSON, a module definition) is refused past max_type_depth.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orrery {

/// Tags are the BSATN tags of AlgebraicType.
enum class type_kind : std::uint8_t {
  ref = 0, sum = 1, product = 2, array = 3, string = 4, boolean = 5,
  i8 = 6, u8 = 7, i16 = 8, u16 = 9, i32 = 10, u32 = 11, i64 = 12, u64 = 13,
  i128 = 14, u128 = 15, i256 = 16, u256 = 17, f32 = 18, f64 = 19,
};

enum class special_type {
  none, identity, connection_id, timestamp, time_duration, uuid, option, schedule_at,
};

struct type_element;

/// Deepest nesting of sums, products and arrays (and, while a module's type
/// references are resolved, of references) the host accepts in a type read
/// from outside: a type at the top level is at depth 0, and nothing may sit
/// deeper than this.
inline constexpr std::size_t max_type_depth = 64;

struct algebraic_type {
  type_kind kind = type_kind::product;
  std::uint32_t ref = 0;                          // kind == ref
  std::vector<type_element> elements;             // product fields, sum variants
  std::shared_ptr<const algebraic_type> element;  // kind == array

  static algebraic_type primitive(type_kind k);
  static algebraic_type array_of(algebraic_type element);
  static algebraic_type product(std::vector<type_element> fields);
  static algebraic_type sum(std::vector<type_element> variants);
  static algebraic_type option(algebraic_type some);
  static algebraic_type unit() { return product({}); }
  static algebraic_type identity();
  static algebraic_type connection_id();
  static algebraic_type timestamp();
  static algebraic_type time_duration();
  static algebraic_type uuid();
  static algebraic_type schedule_at();

  special_type special() const;
  bool is_integer() const;
  bool is_signed() const;
  /// Bytes of a fixed-size BSATN encoding; nullopt when the size varies.
  std::optional<std::size_t> fixed_size() const;
  /// Fewest bytes any BSATN value of this type takes: 0 only for products of
  /// nothing (unit, empty structs, products of those) and unresolved references.
  std::size_t min_size() const;
  /// Bytes of a bool, integer or float (0 for other kinds).
  std::size_t primitive_size() const {
    static constexpr std::uint8_t sizes[] = {0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 4, 8};
    return sizes[static_cast<std::uint8_t>(kind)];
  }
  /// `Array<U8>`: shown and compared as bytes.
  bool is_bytes() const { return kind == type_kind::array && element->kind == type_kind::u8; }

  friend bool operator==(const algebraic_type& a, const algebraic_type& b);
  friend bool operator!=(const algebraic_type& a, const algebraic_type& b) { return !(a == b); }
};

struct type_element {
  std::optional<std::string> name;
  algebraic_type type;
};

/// A readable form for error messages: U64, String, Array<I32>, Identity, ...
std::string type_name(const algebraic_type& type);

} // namespace orrery

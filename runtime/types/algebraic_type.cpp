#include "runtime/types/algebraic_type.hpp"

namespace orrery {
namespace {

algebraic_type single_field(const char* name, type_kind k) {
  return algebraic_type::product({{std::string(name), algebraic_type::primitive(k)}});
}

bool has_single_field(const algebraic_type& t, const char* name, type_kind k) {
  return t.kind == type_kind::product && t.elements.size() == 1 && t.elements[0].name == name &&
         t.elements[0].type.kind == k;
}

bool variant_named(const type_element& e, const char* name) { return e.name && *e.name == name; }

} // namespace

algebraic_type algebraic_type::primitive(type_kind k) {
  algebraic_type t;
  t.kind = k;
  return t;
}

algebraic_type algebraic_type::array_of(algebraic_type element) {
  algebraic_type t;
  t.kind = type_kind::array;
  t.element = std::make_shared<const algebraic_type>(std::move(element));
  return t;
}

algebraic_type algebraic_type::product(std::vector<type_element> fields) {
  algebraic_type t;
  t.kind = type_kind::product;
  t.elements = std::move(fields);
  return t;
}

algebraic_type algebraic_type::sum(std::vector<type_element> variants) {
  algebraic_type t;
  t.kind = type_kind::sum;
  t.elements = std::move(variants);
  return t;
}

algebraic_type algebraic_type::option(algebraic_type some) {
  return sum({{std::string("some"), std::move(some)}, {std::string("none"), unit()}});
}

algebraic_type algebraic_type::identity() { return single_field("__identity__", type_kind::u256); }
algebraic_type algebraic_type::connection_id() {
  return single_field("__connection_id__", type_kind::u128);
}
algebraic_type algebraic_type::timestamp() {
  return single_field("__timestamp_micros_since_unix_epoch__", type_kind::i64);
}
algebraic_type algebraic_type::time_duration() {
  return single_field("__time_duration_micros__", type_kind::i64);
}
algebraic_type algebraic_type::uuid() { return single_field("__uuid__", type_kind::u128); }
algebraic_type algebraic_type::schedule_at() {
  return sum({{std::string("Interval"), time_duration()}, {std::string("Time"), timestamp()}});
}

special_type algebraic_type::special() const {
  if (kind == type_kind::product) {
    if (has_single_field(*this, "__identity__", type_kind::u256)) return special_type::identity;
    if (has_single_field(*this, "__connection_id__", type_kind::u128)) return special_type::connection_id;
    if (has_single_field(*this, "__timestamp_micros_since_unix_epoch__", type_kind::i64))
      return special_type::timestamp;
    if (has_single_field(*this, "__time_duration_micros__", type_kind::i64))
      return special_type::time_duration;
    if (has_single_field(*this, "__uuid__", type_kind::u128)) return special_type::uuid;
  } else if (kind == type_kind::sum && elements.size() == 2) {
    if (variant_named(elements[0], "some") && variant_named(elements[1], "none") &&
        elements[1].type.kind == type_kind::product && elements[1].type.elements.empty())
      return special_type::option;
    if (variant_named(elements[0], "Interval") && variant_named(elements[1], "Time") &&
        elements[0].type.special() == special_type::time_duration &&
        elements[1].type.special() == special_type::timestamp)
      return special_type::schedule_at;
  }
  return special_type::none;
}

bool algebraic_type::is_integer() const {
  return kind >= type_kind::i8 && kind <= type_kind::u256;
}

bool algebraic_type::is_signed() const {
  switch (kind) {
    case type_kind::i8: case type_kind::i16: case type_kind::i32: case type_kind::i64:
    case type_kind::i128: case type_kind::i256: return true;
    default: return false;
  }
}

std::optional<std::size_t> algebraic_type::fixed_size() const {
  switch (kind) {
    case type_kind::boolean: case type_kind::i8: case type_kind::u8: return 1;
    case type_kind::i16: case type_kind::u16: return 2;
    case type_kind::i32: case type_kind::u32: case type_kind::f32: return 4;
    case type_kind::i64: case type_kind::u64: case type_kind::f64: return 8;
    case type_kind::i128: case type_kind::u128: return 16;
    case type_kind::i256: case type_kind::u256: return 32;
    case type_kind::product: {
      std::size_t total = 0;
      for (auto& e : elements) {
        auto size = e.type.fixed_size();
        if (!size) return std::nullopt;
        total += *size;
      }
      return total;
    }
    default: return std::nullopt;
  }
}

std::size_t algebraic_type::min_size() const {
  switch (kind) {
    case type_kind::ref: return 0;
    case type_kind::string: case type_kind::array: return 4;  // the u32 length
    case type_kind::sum: return 1;                             // the tag
    case type_kind::product: {
      std::size_t total = 0;
      for (auto& e : elements) total += e.type.min_size();
      return total;
    }
    default: return primitive_size();
  }
}

bool operator==(const algebraic_type& a, const algebraic_type& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case type_kind::ref: return a.ref == b.ref;
    case type_kind::array: return *a.element == *b.element;
    case type_kind::sum:
    case type_kind::product:
      if (a.elements.size() != b.elements.size()) return false;
      for (std::size_t i = 0; i < a.elements.size(); ++i)
        if (a.elements[i].name != b.elements[i].name || a.elements[i].type != b.elements[i].type)
          return false;
      return true;
    default: return true;
  }
}

std::string type_name(const algebraic_type& t) {
  switch (t.special()) {
    case special_type::identity: return "Identity";
    case special_type::connection_id: return "ConnectionId";
    case special_type::timestamp: return "Timestamp";
    case special_type::time_duration: return "TimeDuration";
    case special_type::uuid: return "Uuid";
    case special_type::schedule_at: return "ScheduleAt";
    case special_type::option: return "Option<" + type_name(t.elements[0].type) + ">";
    case special_type::none: break;
  }
  static const char* names[] = {"Ref", "Sum", "Product", "Array", "String", "Bool", "I8", "U8",
                                "I16", "U16", "I32", "U32", "I64", "U64", "I128", "U128",
                                "I256", "U256", "F32", "F64"};
  switch (t.kind) {
    case type_kind::ref: return "Ref(" + std::to_string(t.ref) + ")";
    case type_kind::array: return "Array<" + type_name(*t.element) + ">";
    case type_kind::sum:
    case type_kind::product: {
      std::string out = t.kind == type_kind::sum ? "(" : "(";
      for (std::size_t i = 0; i < t.elements.size(); ++i) {
        if (i) out += t.kind == type_kind::sum ? " | " : ", ";
        if (t.elements[i].name) out += *t.elements[i].name + ": ";
        out += type_name(t.elements[i].type);
      }
      return out + ")";
    }
    default: return names[int(t.kind)];
  }
}

} // namespace orrery

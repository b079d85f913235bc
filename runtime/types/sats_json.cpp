#include "runtime/types/sats_json.hpp"

#include "runtime/types/identity.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace orrery {
namespace {

// ---- encoding ----

void append_hex_u128(std::string& out, u128 x) {
  std::uint8_t bytes[16];
  for (int i = 15; i >= 0; --i, x >>= 8) bytes[i] = std::uint8_t(x);
  out += to_hex(bytes, 16);
}

void append_float(std::string& out, double x, int digits) {
  if (std::isnan(x)) out += "\"NaN\"";
  else if (std::isinf(x)) out += x > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  else if (x == 0 && std::signbit(x)) out += "-0.0";  // "-0" would read back as the integer 0
  else {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    out += buf;
  }
}

struct int_text {
  std::string operator()(bool) const { return {}; }
  template <class T>
  std::string operator()(const T& x) const {
    if constexpr (std::is_same_v<T, i128> || std::is_same_v<T, u128> || std::is_same_v<T, u256> ||
                  std::is_same_v<T, i256>)
      return to_string(x);
    else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) return std::to_string(x);
    else return {};
  }
};

void encode(std::string& out, const value& v, const algebraic_type& t) {
  switch (t.special()) {
    case special_type::identity: {
      auto& x = std::get<u256>(std::get<product_value>(v.v).fields[0].v);
      out += "{\"__identity__\":\"0x";
      append_hex_u128(out, x.hi);
      append_hex_u128(out, x.lo);
      out += "\"}";
      return;
    }
    case special_type::connection_id:
    case special_type::uuid: {
      auto x = std::get<u128>(std::get<product_value>(v.v).fields[0].v);
      out += t.special() == special_type::uuid ? "{\"__uuid__\":\"0x" : "{\"__connection_id__\":\"0x";
      append_hex_u128(out, x);
      out += "\"}";
      return;
    }
    case special_type::timestamp:
    case special_type::time_duration: {
      auto x = std::get<std::int64_t>(std::get<product_value>(v.v).fields[0].v);
      out += "{" + json_quote(*t.elements[0].name) + ":" + std::to_string(x) + "}";
      return;
    }
    default: break;
  }
  switch (t.kind) {
    case type_kind::boolean: out += std::get<bool>(v.v) ? "true" : "false"; return;
    case type_kind::f32: append_float(out, std::get<float>(v.v), 9); return;
    case type_kind::f64: append_float(out, std::get<double>(v.v), 17); return;
    case type_kind::string: out += json_quote(std::get<std::string>(v.v)); return;
    case type_kind::array: {
      if (auto bytes = v.get<bytes_value>()) {
        out += "\"0x" + to_hex(bytes->data(), bytes->size()) + "\"";
        return;
      }
      auto& items = std::get<array_value>(v.v);
      out += "[";
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ",";
        encode(out, items[i], *t.element);
      }
      out += "]";
      return;
    }
    case type_kind::product: {
      auto& fields = std::get<product_value>(v.v).fields;
      out += "[";
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i) out += ",";
        encode(out, fields[i], t.elements[i].type);
      }
      out += "]";
      return;
    }
    case type_kind::sum: {
      auto& s = std::get<sum_value>(v.v);
      auto& variant = t.elements[s.tag];
      out += "{" + json_quote(variant.name ? *variant.name : std::to_string(s.tag)) + ":";
      encode(out, *s.payload, variant.type);
      out += "}";
      return;
    }
    default: out += std::visit(int_text{}, v.v); return;
  }
}

// ---- decoding ----

using jkind = json_value::kind;

failure mismatch(const algebraic_type& t, const std::string& what) {
  return fail(errc::invalid_argument, "expected " + type_name(t) + ", got " + what);
}

std::string describe(const json_value& j) {
  switch (j.type) {
    case jkind::null: return "null";
    case jkind::boolean: return j.flag ? "true" : "false";
    case jkind::number: return j.text;
    case jkind::string: return json_quote(j.text);
    case jkind::array: return "an array of " + std::to_string(j.items.size());
    case jkind::object: return "an object";
  }
  return "?";
}

enum class parsed { ok, not_integer, too_large };

// Magnitude and sign of a decimal or 0x-hex integer.
parsed parse_integer(std::string text, bool& negative, u256& magnitude) {
  negative = false;
  magnitude = {};
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.erase(0, 1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.erase(0, 2);
  }
  if (text.empty()) return parsed::not_integer;
  for (char c : text) {
    int d = c >= '0' && c <= '9' ? c - '0'
            : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
            : base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return parsed::not_integer;
    // magnitude = magnitude * base + d, failing on overflow past 256 bits.
    u128 lo_hi = magnitude.lo >> 64, lo_lo = magnitude.lo & ~std::uint64_t(0);
    u128 p0 = lo_lo * base + d;
    u128 p1 = lo_hi * base + (p0 >> 64);
    u128 p2 = (magnitude.hi & ~std::uint64_t(0)) * base + (p1 >> 64);
    u128 p3 = (magnitude.hi >> 64) * base + (p2 >> 64);
    if (p3 >> 64) return parsed::too_large;
    magnitude.lo = (p1 << 64) | (p0 & ~std::uint64_t(0));
    magnitude.hi = (p3 << 64) | (p2 & ~std::uint64_t(0));
  }
  return parsed::ok;
}

result<value> decode_integer(const algebraic_type& t, const json_value& j) {
  if (j.type != jkind::number && j.type != jkind::string) return mismatch(t, describe(j));
  bool negative;
  u256 mag;
  switch (parse_integer(j.text, negative, mag)) {
    case parsed::not_integer: return mismatch(t, describe(j));
    case parsed::too_large: return fail(errc::invalid_argument, j.text + " is out of range for " + type_name(t));
    case parsed::ok: break;
  }
  int bits = 0;
  switch (t.kind) {
    case type_kind::i8: case type_kind::u8: bits = 8; break;
    case type_kind::i16: case type_kind::u16: bits = 16; break;
    case type_kind::i32: case type_kind::u32: bits = 32; break;
    case type_kind::i64: case type_kind::u64: bits = 64; break;
    case type_kind::i128: case type_kind::u128: bits = 128; break;
    default: bits = 256; break;
  }
  bool is_signed = t.is_signed();
  bool zero = mag.lo == 0 && mag.hi == 0;
  // Largest magnitude allowed: 2^bits - 1 unsigned, 2^(bits-1) - 1 or 2^(bits-1) signed.
  int limit_bits = is_signed ? bits - 1 : bits;
  bool fits;
  if (limit_bits >= 256) fits = true;
  else if (limit_bits >= 128) fits = (mag.hi >> (limit_bits - 128)) == 0;
  else fits = mag.hi == 0 && (mag.lo >> limit_bits) == 0;
  // The one extra negative value of a signed type: exactly 2^(bits-1).
  bool min_signed = false;
  if (!fits && is_signed && negative) {
    if (limit_bits >= 128) min_signed = mag.lo == 0 && mag.hi == (u128(1) << (limit_bits - 128));
    else min_signed = mag.hi == 0 && mag.lo == (u128(1) << limit_bits);
  }
  if ((!fits && !min_signed) || (negative && !is_signed && !zero))
    return fail(errc::invalid_argument, j.text + " is out of range for " + type_name(t));
  // Two's complement of the magnitude when negative.
  u256 x = mag;
  if (negative) {
    x.lo = ~mag.lo + 1;
    x.hi = ~mag.hi + (x.lo == 0 ? 1 : 0);
  }
  switch (t.kind) {
    case type_kind::i8: return value(std::int8_t(x.lo));
    case type_kind::u8: return value(std::uint8_t(x.lo));
    case type_kind::i16: return value(std::int16_t(x.lo));
    case type_kind::u16: return value(std::uint16_t(x.lo));
    case type_kind::i32: return value(std::int32_t(x.lo));
    case type_kind::u32: return value(std::uint32_t(x.lo));
    case type_kind::i64: return value(std::int64_t(x.lo));
    case type_kind::u64: return value(std::uint64_t(x.lo));
    case type_kind::i128: return value(i128(x.lo));
    case type_kind::u128: return value(u128(x.lo));
    case type_kind::i256: return value(i256{x.lo, i128(x.hi)});
    default: return value(x);
  }
}

result<value> decode_float(const algebraic_type& t, const json_value& j) {
  double x;
  if (j.type == jkind::string && (j.text == "NaN" || j.text == "Infinity" || j.text == "-Infinity")) {
    x = j.text == "NaN" ? NAN : j.text == "Infinity" ? INFINITY : -INFINITY;
  } else if (j.type == jkind::number) {
    x = std::strtod(j.text.c_str(), nullptr);
  } else {
    return mismatch(t, describe(j));
  }
  if (t.kind == type_kind::f32) return value(float(x));
  return value(x);
}

// The single value inside a special product: {"__name__": x}, [x], or x itself.
const json_value& special_inner(const json_value& j) {
  if (j.type == jkind::object && j.fields.size() == 1) return j.fields[0].second;
  if (j.type == jkind::array && j.items.size() == 1) return j.items[0];
  return j;
}

// Recurses once per level of the JSON document (bounded by json_max_depth)
// and of the type together.
result<value> decode(const algebraic_type& t, const json_value& j);

result<value> decode_special(const algebraic_type& t, const json_value& j) {
  const json_value& inner = special_inner(j);
  const algebraic_type& field = t.elements[0].type;
  auto x = decode_integer(field, inner);
  if (!x) return fail(errc::invalid_argument, "expected " + type_name(t) + " (" + x.error().message + ")");
  return value(product_value{{std::move(*x)}});
}

result<value> decode(const algebraic_type& t, const json_value& j) {
  switch (t.special()) {
    case special_type::identity: case special_type::connection_id: case special_type::uuid:
    case special_type::timestamp: case special_type::time_duration:
      return decode_special(t, j);
    default: break;
  }
  switch (t.kind) {
    case type_kind::boolean:
      if (j.type != jkind::boolean) return mismatch(t, describe(j));
      return value(j.flag);
    case type_kind::f32: case type_kind::f64: return decode_float(t, j);
    case type_kind::string:
      if (j.type != jkind::string) return mismatch(t, describe(j));
      return value(j.text);
    case type_kind::array: {
      if (t.element->kind == type_kind::u8 && j.type == jkind::string) {
        std::string hex = j.text;
        if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.erase(0, 2);
        bytes_value bytes(hex.size() / 2);
        if (hex.size() % 2 || !from_hex(hex, bytes.data(), bytes.size()))
          return fail(errc::invalid_argument, "expected hex bytes, got " + describe(j));
        return value(std::move(bytes));
      }
      if (j.type != jkind::array) return mismatch(t, describe(j));
      if (t.element->kind == type_kind::u8) {
        bytes_value bytes;
        for (auto& item : j.items) {
          auto b = decode_integer(*t.element, item);
          if (!b) return b;
          bytes.push_back(std::get<std::uint8_t>(b->v));
        }
        return value(std::move(bytes));
      }
      array_value items;
      for (auto& item : j.items) {
        auto x = decode(*t.element, item);
        if (!x) return x;
        items.push_back(std::move(*x));
      }
      return value(std::move(items));
    }
    case type_kind::product: {
      product_value p;
      if (j.type == jkind::array) {
        if (j.items.size() != t.elements.size())
          return fail(errc::invalid_argument, "expected " + std::to_string(t.elements.size()) +
                                                " elements for " + type_name(t) + ", got " +
                                                std::to_string(j.items.size()));
        for (std::size_t i = 0; i < j.items.size(); ++i) {
          auto x = decode(t.elements[i].type, j.items[i]);
          if (!x) return x;
          p.fields.push_back(std::move(*x));
        }
        return value(std::move(p));
      }
      if (j.type == jkind::object) {  // named fields, in any order
        for (auto& e : t.elements) {
          const json_value* found = nullptr;
          for (auto& [k, v] : j.fields)
            if (e.name && k == *e.name) found = &v;
          if (!found) return fail(errc::invalid_argument, "missing field `" + e.name.value_or("?") + "`");
          auto x = decode(e.type, *found);
          if (!x) return x;
          p.fields.push_back(std::move(*x));
        }
        return value(std::move(p));
      }
      return mismatch(t, describe(j));
    }
    case type_kind::sum: {
      if (t.special() == special_type::option && j.type == jkind::null) return value::none();
      if (j.type != jkind::object || j.fields.size() != 1) return mismatch(t, describe(j));
      auto& [name, payload] = j.fields[0];
      for (std::size_t tag = 0; tag < t.elements.size(); ++tag) {
        auto& variant = t.elements[tag];
        if ((variant.name && *variant.name == name) || std::to_string(tag) == name) {
          auto x = decode(variant.type, payload);
          if (!x) return x;
          return value::sum(std::uint8_t(tag), std::move(*x));
        }
      }
      return fail(errc::invalid_argument, "no variant `" + name + "` in " + type_name(t));
    }
    case type_kind::ref: return fail(errc::invalid_argument, "unresolved type reference");
    default: return decode_integer(t, j);
  }
}

std::string option_name_json(const std::optional<std::string>& s) {
  return s ? "{\"some\":" + json_quote(*s) + "}" : std::string("{\"none\":[]}");
}

std::string elements_json(const std::vector<type_element>& elements, const char* list) {
  std::string out = std::string("{\"") + list + "\":[";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i) out += ",";
    out += "{\"name\":" + option_name_json(elements[i].name) + ",\"algebraic_type\":" + type_to_json(elements[i].type) + "}";
  }
  return out + "]}";
}

} // namespace

std::string type_to_json(const algebraic_type& t) {
  static const char* names[] = {"Ref", "Sum", "Product", "Array", "String", "Bool", "I8", "U8", "I16", "U16",
                                "I32", "U32", "I64", "U64", "I128", "U128", "I256", "U256", "F32", "F64"};
  switch (t.kind) {
    case type_kind::ref: return "{\"Ref\":" + std::to_string(t.ref) + "}";
    case type_kind::sum: return "{\"Sum\":" + elements_json(t.elements, "variants") + "}";
    case type_kind::product: return "{\"Product\":" + elements_json(t.elements, "elements") + "}";
    case type_kind::array: return "{\"Array\":" + type_to_json(*t.element) + "}";
    default: return std::string("{\"") + names[int(t.kind)] + "\":[]}";
  }
}

namespace {
const json_value* field(const json_value& j, std::string_view name) {
  for (auto& [k, v] : j.fields)
    if (k == name) return &v;
  return nullptr;
}

result<algebraic_type> type_from_json_at(const json_value& j, std::size_t depth);

result<std::vector<type_element>> elements_from_json(const json_value& list, std::size_t depth) {
  std::vector<type_element> out;
  for (auto& item : list.items) {
    type_element e;
    if (auto name = field(item, "name"); name && name->type == json_value::kind::object && !name->fields.empty() &&
                                         name->fields[0].first == "some")
      e.name = name->fields[0].second.text;
    if (auto type = field(item, "algebraic_type")) {
      auto parsed = type_from_json_at(*type, depth);
      if (!parsed) return parsed.error();
      e.type = std::move(*parsed);
    }
    out.push_back(std::move(e));
  }
  return out;
}

result<algebraic_type> type_from_json_at(const json_value& j, std::size_t depth) {
  static const char* names[] = {"Ref", "Sum", "Product", "Array", "String", "Bool", "I8", "U8", "I16", "U16",
                                "I32", "U32", "I64", "U64", "I128", "U128", "I256", "U256", "F32", "F64"};
  if (depth > max_type_depth)
    return fail(errc::invalid_argument, "type nests deeper than " + std::to_string(max_type_depth) +
                                          " levels of sums, products and arrays, the most the host accepts");
  if (j.type != json_value::kind::object || j.fields.size() != 1)
    return fail(errc::invalid_argument, "an algebraic type is an object with one key");
  auto& [kind, body] = j.fields[0];
  for (int k = 0; k < 20; ++k) {
    if (kind != names[k]) continue;
    switch (type_kind(k)) {
      case type_kind::ref: {
        bool negative;
        u256 index;
        if (body.type != json_value::kind::number || parse_integer(body.text, negative, index) != parsed::ok ||
            negative || index.hi != 0 || index.lo > UINT32_MAX)
          return fail(errc::invalid_argument, "a type reference is a typespace index, got " + describe(body));
        algebraic_type t = algebraic_type::primitive(type_kind::ref);
        t.ref = std::uint32_t(index.lo);
        return t;
      }
      case type_kind::array: {
        auto element = type_from_json_at(body, depth + 1);
        if (!element) return element;
        return algebraic_type::array_of(std::move(*element));
      }
      case type_kind::sum:
      case type_kind::product: {
        const json_value* list = field(body, k == 1 ? "variants" : "elements");
        if (!list) return fail(errc::invalid_argument, std::string(names[k]) + " type without its list");
        auto elements = elements_from_json(*list, depth + 1);
        if (!elements) return elements.error();
        return k == 1 ? algebraic_type::sum(std::move(*elements)) : algebraic_type::product(std::move(*elements));
      }
      default: return algebraic_type::primitive(type_kind(k));
    }
  }
  return fail(errc::invalid_argument, "unknown algebraic type `" + kind + "`");
}
} // namespace

result<algebraic_type> type_from_json(const json_value& j) { return type_from_json_at(j, 0); }

std::string product_elements_json(const algebraic_type& product) { return elements_json(product.elements, "elements"); }

void append_sats_json(std::string& out, const value& v, const algebraic_type& type) {
  encode(out, v, type);
}

std::string to_sats_json(const value& v, const algebraic_type& type) {
  std::string out;
  encode(out, v, type);
  return out;
}

std::string row_to_json_object(const value& row, const algebraic_type& row_type) {
  const auto* fields = std::get_if<product_value>(&row.v);
  if (!fields || row_type.kind != type_kind::product || fields->fields.size() != row_type.elements.size())
    return to_sats_json(row, row_type);
  std::string out = "{";
  for (std::size_t i = 0; i < fields->fields.size(); ++i) {
    if (i) out += ',';
    out += json_quote(row_type.elements[i].name.value_or(std::to_string(i)));
    out += ':';
    encode(out, fields->fields[i], row_type.elements[i].type);
  }
  return out + "}";
}

result<value> from_sats_json(const algebraic_type& type, const json_value& json) {
  return decode(type, json);
}

result<value> from_sats_json(const algebraic_type& type, std::string_view json) {
  auto parsed = json_value::parse(json);
  if (!parsed) return parsed.error();
  return decode(type, *parsed);
}

} // namespace orrery

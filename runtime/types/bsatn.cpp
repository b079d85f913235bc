#include "runtime/types/bsatn.hpp"

namespace orrery {
namespace {

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    int n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
    else return false;
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += n + 1;
  }
  return true;
}

struct encoder {
  bsatn_writer& w;
  void operator()(bool x) const { w.u8(x ? 1 : 0); }
  void operator()(const std::string& s) const { w.string(s); }
  void operator()(const bytes_value& b) const {
    w.u32(std::uint32_t(b.size()));
    w.raw(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }
  void operator()(const array_value& a) const {
    w.u32(std::uint32_t(a.size()));
    for (auto& x : a) std::visit(*this, x.v);
  }
  void operator()(const product_value& p) const {
    for (auto& x : p.fields) std::visit(*this, x.v);
  }
  void operator()(const sum_value& s) const {
    w.u8(s.tag);
    std::visit(*this, s.payload->v);
  }
  void operator()(const u256& x) const { w.fixed(x.lo), w.fixed(x.hi); }
  void operator()(const i256& x) const { w.fixed(x.lo), w.fixed(x.hi); }
  template <class T>
  void operator()(T x) const { w.fixed(x); }
};

template <class T>
value read_int(bsatn_reader& in) { return in.fixed<T>(); }

} // namespace

bool bsatn_reader::boolean() {
  std::uint8_t b = u8();
  if (b > 1) throw bsatn_error("invalid bool byte " + std::to_string(b) + " (must be 0 or 1)");
  return b == 1;
}

std::string_view bsatn_reader::string() {
  std::uint32_t n = u32();
  std::string_view s = take(n);
  if (!valid_utf8(s)) throw bsatn_error("string is not valid UTF-8");
  return s;
}

std::uint32_t bsatn_reader::array_length(const algebraic_type& element) {
  std::uint32_t n = u32();
  std::size_t each = element.min_size();
  if (each > 0) {
    if (remaining() / each < n)
      throw bsatn_error("array of " + std::to_string(n) + " elements is longer than its input (" +
                        std::to_string(remaining()) + " bytes left, each element takes at least " +
                        std::to_string(each) + ")");
  } else if (n > empty_values_left()) {
    // Each element holds at least one empty value.
    throw bsatn_error("array of " + std::to_string(n) + " elements of " + type_name(element) +
                      ", which take no bytes: values that take no bytes may outnumber the bytes read by at most " +
                      std::to_string(max_empty_values));
  }
  return n;
}

void bsatn_reader::empty_value() {
  if (empty_values_left() == 0)
    throw bsatn_error("more values that take no bytes (units, empty products) than the input backs: they may "
                      "outnumber the bytes read by at most " + std::to_string(max_empty_values));
  ++empty_values_;
}

void encode_value(std::string& out, const value& v) {
  bsatn_writer w(out);
  std::visit(encoder{w}, v.v);
}

std::string encode_value(const value& v) {
  std::string out;
  encode_value(out, v);
  return out;
}

value read_value(const algebraic_type& t, bsatn_reader& in) {
  switch (t.kind) {
    case type_kind::boolean: return in.boolean();
    case type_kind::i8: return read_int<std::int8_t>(in);
    case type_kind::u8: return read_int<std::uint8_t>(in);
    case type_kind::i16: return read_int<std::int16_t>(in);
    case type_kind::u16: return read_int<std::uint16_t>(in);
    case type_kind::i32: return read_int<std::int32_t>(in);
    case type_kind::u32: return read_int<std::uint32_t>(in);
    case type_kind::i64: return read_int<std::int64_t>(in);
    case type_kind::u64: return read_int<std::uint64_t>(in);
    case type_kind::i128: return read_int<i128>(in);
    case type_kind::u128: return read_int<u128>(in);
    case type_kind::i256: {
      i256 x;
      x.lo = in.fixed<u128>();
      x.hi = in.fixed<i128>();
      return x;
    }
    case type_kind::u256: {
      u256 x;
      x.lo = in.fixed<u128>();
      x.hi = in.fixed<u128>();
      return x;
    }
    case type_kind::f32: return in.fixed<float>();
    case type_kind::f64: return in.fixed<double>();
    case type_kind::string: return std::string(in.string());
    case type_kind::array: {
      // Checked against the bytes left (or the empty-element allowance), so
      // the reservation below is backed by input.
      std::uint32_t n = in.array_length(*t.element);
      if (t.element->kind == type_kind::u8) {
        auto raw = in.take(n);
        return bytes_value(raw.begin(), raw.end());
      }
      array_value items;
      items.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) items.push_back(read_value(*t.element, in));
      return items;
    }
    case type_kind::product: {
      if (t.elements.empty()) in.empty_value();
      product_value p;
      p.fields.reserve(t.elements.size());
      for (auto& e : t.elements) p.fields.push_back(read_value(e.type, in));
      return p;
    }
    case type_kind::sum: {
      std::uint8_t tag = in.u8();
      if (tag >= t.elements.size())
        throw bsatn_error("sum tag " + std::to_string(tag) + " out of range for " + type_name(t));
      return value::sum(tag, read_value(t.elements[tag].type, in));
    }
    case type_kind::ref: throw bsatn_error("unresolved type reference " + std::to_string(t.ref));
  }
  throw bsatn_error("unknown type");
}

void skip_value(const algebraic_type& t, bsatn_reader& in) {
  switch (t.kind) {
    case type_kind::boolean: in.boolean(); return;
    case type_kind::string: in.string(); return;
    case type_kind::array: {
      std::uint32_t n = in.array_length(*t.element);
      // Integers and floats need no checking: step over the whole run at once.
      const algebraic_type& e = *t.element;
      if (e.is_integer() || e.kind == type_kind::f32 || e.kind == type_kind::f64) {
        in.take(std::size_t(n) * e.primitive_size());
        return;
      }
      for (std::uint32_t i = 0; i < n; ++i) skip_value(*t.element, in);
      return;
    }
    case type_kind::product:
      if (t.elements.empty()) in.empty_value();
      for (auto& e : t.elements) skip_value(e.type, in);
      return;
    case type_kind::sum: {
      std::uint8_t tag = in.u8();
      if (tag >= t.elements.size())
        throw bsatn_error("sum tag " + std::to_string(tag) + " out of range for " + type_name(t));
      skip_value(t.elements[tag].type, in);
      return;
    }
    case type_kind::ref: throw bsatn_error("unresolved type reference " + std::to_string(t.ref));
    default: in.take(t.primitive_size()); return;
  }
}

result<value> decode_value(const algebraic_type& type, std::string_view bytes) {
  try {
    bsatn_reader in(bytes);
    value v = read_value(type, in);
    if (in.remaining() != 0)
      return fail(errc::bsatn_decode, std::to_string(in.remaining()) + " bytes left after a " + type_name(type));
    return v;
  } catch (const bsatn_error& e) {
    return fail(errc::bsatn_decode, e.what());
  }
}

std::optional<std::string> validate(const algebraic_type& type, std::string_view bytes) {
  try {
    bsatn_reader in(bytes);
    skip_value(type, in);
    if (in.remaining() != 0) return std::to_string(in.remaining()) + " bytes left after the value";
    return std::nullopt;
  } catch (const bsatn_error& e) {
    return std::string(e.what());
  }
}

void encode_type(std::string& out, const algebraic_type& t) {
  bsatn_writer w(out);
  w.u8(std::uint8_t(t.kind));
  switch (t.kind) {
    case type_kind::ref: w.u32(t.ref); break;
    case type_kind::array: encode_type(out, *t.element); break;
    case type_kind::sum:
    case type_kind::product:
      w.u32(std::uint32_t(t.elements.size()));
      for (auto& e : t.elements) {
        if (e.name) {
          w.u8(0);
          w.string(*e.name);
        } else {
          w.u8(1);
        }
        encode_type(out, e.type);
      }
      break;
    default: break;
  }
}

algebraic_type read_type(bsatn_reader& in, std::size_t depth) {
  if (depth > max_type_depth)
    throw bsatn_error("type nests deeper than " + std::to_string(max_type_depth) +
                      " levels of sums, products and arrays, the most the host accepts");
  std::uint8_t tag = in.u8();
  if (tag > std::uint8_t(type_kind::f64)) throw bsatn_error("unknown type tag " + std::to_string(tag));
  algebraic_type t = algebraic_type::primitive(type_kind(tag));
  switch (t.kind) {
    case type_kind::ref: t.ref = in.u32(); break;
    case type_kind::array: t.element = std::make_shared<const algebraic_type>(read_type(in, depth + 1)); break;
    case type_kind::sum:
    case type_kind::product: {
      std::uint32_t n = in.u32();
      for (std::uint32_t i = 0; i < n; ++i) {
        type_element e;
        std::uint8_t has_name = in.u8();
        if (has_name == 0) e.name = std::string(in.string());
        else if (has_name != 1) throw bsatn_error("bad Option tag in a type element name");
        e.type = read_type(in, depth + 1);
        t.elements.push_back(std::move(e));
      }
      break;
    }
    default: break;
  }
  return t;
}

} // namespace orrery

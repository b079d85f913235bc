#include "runtime/types/index_key.hpp"

namespace orrery {
namespace {

// Little-endian input, big-endian output; signed values get their sign bit
// flipped so negative numbers sort first.
void append_int(std::string& out, std::string_view le, bool is_signed) {
  std::size_t start = out.size();
  for (std::size_t i = le.size(); i-- > 0;) out.push_back(le[i]);
  if (is_signed) out[start] = char(static_cast<unsigned char>(out[start]) ^ 0x80);
}

template <class Bits>
void append_float(std::string& out, Bits bits) {
  constexpr Bits sign = Bits(1) << (sizeof(Bits) * 8 - 1);
  bits = (bits & sign) ? ~bits : (bits | sign);
  for (int shift = sizeof(Bits) * 8 - 8; shift >= 0; shift -= 8) out.push_back(char(bits >> shift));
}

// Byte strings: 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00, so a shorter
// string sorts before its extensions and what follows cannot be confused.
void append_bytes(std::string& out, std::string_view s) {
  for (char c : s) {
    out.push_back(c);
    if (c == 0) out.push_back(char(0xFF));
  }
  out.push_back(0);
  out.push_back(0);
}

} // namespace

void append_key(std::string& out, const algebraic_type& t, bsatn_reader& in) {
  switch (t.kind) {
    case type_kind::boolean: out.push_back(char(in.boolean())); return;
    case type_kind::f32: append_float(out, in.fixed<std::uint32_t>()); return;
    case type_kind::f64: append_float(out, in.fixed<std::uint64_t>()); return;
    case type_kind::string: append_bytes(out, in.string()); return;
    case type_kind::array: {
      std::uint32_t n = in.array_length(*t.element);
      if (t.element->kind == type_kind::u8) return append_bytes(out, in.take(n));
      for (std::uint32_t i = 0; i < n; ++i) {
        out.push_back(1);
        append_key(out, *t.element, in);
      }
      out.push_back(0);
      return;
    }
    case type_kind::product:
      if (t.elements.empty()) in.empty_value();
      for (auto& e : t.elements) append_key(out, e.type, in);
      return;
    case type_kind::sum: {
      std::uint8_t tag = in.u8();
      if (tag >= t.elements.size()) throw bsatn_error("sum tag " + std::to_string(tag) + " out of range");
      out.push_back(char(tag));
      append_key(out, t.elements[tag].type, in);
      return;
    }
    case type_kind::ref: throw bsatn_error("unresolved type reference");
    default: append_int(out, in.take(t.primitive_size()), t.is_signed()); return;
  }
}

std::string key_prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = char(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

} // namespace orrery

#include "runtime/types/row_codec.hpp"

#include <msgpack.hpp>

namespace orrery {
namespace {

struct string_sink {
  std::string& out;
  void write(const char* p, std::size_t n) { out.append(p, n); }
};

using packer = msgpack::packer<string_sink>;

void pack(packer& pk, const algebraic_type& t, bsatn_reader& in) {
  switch (t.kind) {
    case type_kind::boolean: in.boolean() ? pk.pack_true() : pk.pack_false(); return;
    case type_kind::i8: pk.pack_int64(in.fixed<std::int8_t>()); return;
    case type_kind::u8: pk.pack_uint64(in.fixed<std::uint8_t>()); return;
    case type_kind::i16: pk.pack_int64(in.fixed<std::int16_t>()); return;
    case type_kind::u16: pk.pack_uint64(in.fixed<std::uint16_t>()); return;
    case type_kind::i32: pk.pack_int64(in.fixed<std::int32_t>()); return;
    case type_kind::u32: pk.pack_uint64(in.fixed<std::uint32_t>()); return;
    case type_kind::i64: pk.pack_int64(in.fixed<std::int64_t>()); return;
    case type_kind::u64: pk.pack_uint64(in.fixed<std::uint64_t>()); return;
    case type_kind::f32: pk.pack_float(in.fixed<float>()); return;
    case type_kind::f64: pk.pack_double(in.fixed<double>()); return;
    case type_kind::i128: case type_kind::u128: case type_kind::i256: case type_kind::u256: {
      std::string_view raw = in.take(*t.fixed_size());
      pk.pack_bin(std::uint32_t(raw.size()));
      pk.pack_bin_body(raw.data(), std::uint32_t(raw.size()));
      return;
    }
    case type_kind::string: {
      std::string_view s = in.string();
      pk.pack_str(std::uint32_t(s.size()));
      pk.pack_str_body(s.data(), std::uint32_t(s.size()));
      return;
    }
    case type_kind::array: {
      std::uint32_t n = in.array_length(*t.element);
      if (t.element->kind == type_kind::u8) {
        std::string_view raw = in.take(n);
        pk.pack_bin(n);
        pk.pack_bin_body(raw.data(), n);
        return;
      }
      pk.pack_array(n);
      for (std::uint32_t i = 0; i < n; ++i) pack(pk, *t.element, in);
      return;
    }
    case type_kind::product:
      if (t.elements.empty()) in.empty_value();
      pk.pack_array(std::uint32_t(t.elements.size()));
      for (auto& e : t.elements) pack(pk, e.type, in);
      return;
    case type_kind::sum: {
      std::uint8_t tag = in.u8();
      if (tag >= t.elements.size()) throw bsatn_error("sum tag out of range");
      pk.pack_array(2);
      pk.pack_uint64(tag);
      pack(pk, t.elements[tag].type, in);
      return;
    }
    case type_kind::ref: throw bsatn_error("unresolved type reference");
  }
}

[[noreturn]] void corrupt(const algebraic_type& t) {
  throw bsatn_error("stored value does not match column type " + type_name(t));
}

template <class T>
void unpack_int(const msgpack::object& o, const algebraic_type& t, bsatn_writer& w) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) w.fixed(T(o.via.u64));
  else if (o.type == msgpack::type::NEGATIVE_INTEGER) w.fixed(T(o.via.i64));
  else corrupt(t);
}

void unpack(const msgpack::object& o, const algebraic_type& t, bsatn_writer& w) {
  switch (t.kind) {
    case type_kind::boolean:
      if (o.type != msgpack::type::BOOLEAN) corrupt(t);
      w.u8(o.via.boolean ? 1 : 0);
      return;
    case type_kind::i8: return unpack_int<std::int8_t>(o, t, w);
    case type_kind::u8: return unpack_int<std::uint8_t>(o, t, w);
    case type_kind::i16: return unpack_int<std::int16_t>(o, t, w);
    case type_kind::u16: return unpack_int<std::uint16_t>(o, t, w);
    case type_kind::i32: return unpack_int<std::int32_t>(o, t, w);
    case type_kind::u32: return unpack_int<std::uint32_t>(o, t, w);
    case type_kind::i64: return unpack_int<std::int64_t>(o, t, w);
    case type_kind::u64: return unpack_int<std::uint64_t>(o, t, w);
    case type_kind::f32:
    case type_kind::f64:
      if (o.type != msgpack::type::FLOAT32 && o.type != msgpack::type::FLOAT64) corrupt(t);
      if (t.kind == type_kind::f32) w.fixed(float(o.via.f64));
      else w.fixed(o.via.f64);
      return;
    case type_kind::i128: case type_kind::u128: case type_kind::i256: case type_kind::u256:
      if (o.type != msgpack::type::BIN || o.via.bin.size != *t.fixed_size()) corrupt(t);
      w.raw(std::string_view(o.via.bin.ptr, o.via.bin.size));
      return;
    case type_kind::string:
      if (o.type != msgpack::type::STR) corrupt(t);
      w.string(std::string_view(o.via.str.ptr, o.via.str.size));
      return;
    case type_kind::array:
      if (t.element->kind == type_kind::u8) {
        if (o.type != msgpack::type::BIN) corrupt(t);
        w.string(std::string_view(o.via.bin.ptr, o.via.bin.size));
        return;
      }
      if (o.type != msgpack::type::ARRAY) corrupt(t);
      w.u32(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) unpack(o.via.array.ptr[i], *t.element, w);
      return;
    case type_kind::product:
      if (o.type != msgpack::type::ARRAY || o.via.array.size != t.elements.size()) corrupt(t);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) unpack(o.via.array.ptr[i], t.elements[i].type, w);
      return;
    case type_kind::sum: {
      if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 ||
          o.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
          o.via.array.ptr[0].via.u64 >= t.elements.size())
        corrupt(t);
      auto tag = std::uint8_t(o.via.array.ptr[0].via.u64);
      w.u8(tag);
      unpack(o.via.array.ptr[1], t.elements[tag].type, w);
      return;
    }
    case type_kind::ref: corrupt(t);
  }
}

} // namespace

void row_to_msgpack(const table_schema& schema, std::string_view bsatn, std::string& out) {
  string_sink sink{out};
  packer pk(sink);
  bsatn_reader in(bsatn);
  pk.pack_array(std::uint32_t(schema.columns.size()));
  for (auto& c : schema.columns) pack(pk, c.type, in);
}

result<std::string> row_from_msgpack(const table_schema& schema, std::string_view stored) {
  try {
    msgpack::object_handle handle = msgpack::unpack(stored.data(), stored.size());
    const msgpack::object& row = handle.get();
    if (row.type != msgpack::type::ARRAY || row.via.array.size > schema.columns.size())
      return fail(errc::storage, "stored row of table `" + schema.name + "` has the wrong shape");
    std::string out;
    bsatn_writer w(out);
    for (std::size_t i = 0; i < schema.columns.size(); ++i) {
      if (i < row.via.array.size) {
        unpack(row.via.array.ptr[i], schema.columns[i].type, w);
      } else if (schema.columns[i].default_bsatn) {
        w.raw(*schema.columns[i].default_bsatn);
      } else {
        return fail(errc::storage, "stored row of table `" + schema.name + "` lacks column `" +
                                     schema.columns[i].name + "`, which has no default");
      }
    }
    return out;
  } catch (const std::exception& e) {
    return fail(errc::storage, "corrupt stored row of table `" + schema.name + "`: " + e.what());
  }
}

} // namespace orrery

#include "runtime/types/schema.hpp"

namespace orrery {

algebraic_type table_schema::row_type() const {
  std::vector<type_element> fields;
  for (auto& c : columns) fields.push_back({c.name, c.type});
  return algebraic_type::product(std::move(fields));
}

std::optional<std::uint16_t> table_schema::column_index(std::string_view column) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == column) return std::uint16_t(i);
  return std::nullopt;
}

const index_schema* table_schema::index_named(std::string_view name) const {
  for (auto& ix : indexes)
    if (ix.name == name) return &ix;
  return nullptr;
}

namespace {
constexpr std::uint8_t schema_format = 1;

void put_i128(bsatn_writer& w, i128 x) { w.fixed(x); }
} // namespace

std::string encode_schema(const table_schema& s) {
  std::string out;
  bsatn_writer w(out);
  w.u8(schema_format);
  w.u32(s.id);
  w.string(s.name);
  w.u32(std::uint32_t(s.columns.size()));
  for (auto& c : s.columns) {
    w.string(c.name);
    encode_type(out, c.type);
    w.u8(c.default_bsatn ? 1 : 0);
    if (c.default_bsatn) w.string(*c.default_bsatn);
  }
  w.u8(s.primary_key ? 1 : 0);
  w.fixed<std::uint16_t>(s.primary_key.value_or(0));
  w.u32(std::uint32_t(s.indexes.size()));
  for (auto& ix : s.indexes) {
    w.u32(ix.id);
    w.string(ix.name);
    w.u8(std::uint8_t(ix.algorithm));
    w.u8(ix.unique ? 1 : 0);
    w.u32(std::uint32_t(ix.columns.size()));
    for (auto c : ix.columns) w.fixed(c);
  }
  w.u32(std::uint32_t(s.sequences.size()));
  for (auto& q : s.sequences) {
    w.fixed(q.column);
    put_i128(w, q.start);
    put_i128(w, q.min_value);
    put_i128(w, q.max_value);
    put_i128(w, q.increment);
  }
  w.u8(s.schedule ? 1 : 0);
  if (s.schedule) {
    w.string(s.schedule->reducer);
    w.fixed(s.schedule->at_column);
  }
  w.u8(s.is_public ? 1 : 0);
  w.u8(s.is_event ? 1 : 0);
  return out;
}

result<table_schema> decode_schema(std::string_view bytes) {
  try {
    bsatn_reader in(bytes);
    if (in.u8() != schema_format) return fail(errc::storage, "unknown table schema format");
    table_schema s;
    s.id = in.u32();
    s.name = std::string(in.string());
    for (std::uint32_t n = in.u32(); n > 0; --n) {
      column_schema c;
      c.name = std::string(in.string());
      c.type = read_type(in);
      if (in.boolean()) c.default_bsatn = std::string(in.take(in.u32()));
      s.columns.push_back(std::move(c));
    }
    bool has_pk = in.boolean();
    auto pk = in.fixed<std::uint16_t>();
    if (has_pk) s.primary_key = pk;
    for (std::uint32_t n = in.u32(); n > 0; --n) {
      index_schema ix;
      ix.id = in.u32();
      ix.name = std::string(in.string());
      ix.algorithm = index_algorithm(in.u8());
      ix.unique = in.boolean();
      for (std::uint32_t k = in.u32(); k > 0; --k) ix.columns.push_back(in.fixed<std::uint16_t>());
      s.indexes.push_back(std::move(ix));
    }
    for (std::uint32_t n = in.u32(); n > 0; --n) {
      sequence_schema q;
      q.column = in.fixed<std::uint16_t>();
      q.start = in.fixed<i128>();
      q.min_value = in.fixed<i128>();
      q.max_value = in.fixed<i128>();
      q.increment = in.fixed<i128>();
      s.sequences.push_back(q);
    }
    if (in.boolean()) {
      schedule_schema sch;
      sch.reducer = std::string(in.string());
      sch.at_column = in.fixed<std::uint16_t>();
      s.schedule = sch;
    }
    s.is_public = in.boolean();
    s.is_event = in.boolean();
    return s;
  } catch (const bsatn_error& e) {
    return fail(errc::storage, std::string("corrupt table schema: ") + e.what());
  }
}

} // namespace orrery

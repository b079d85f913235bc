#pragma once
// The benchmarks' table: item(id u64 primary key, value u64, label string).

#include "runtime/types/schema.hpp"

inline orrery::table_schema item_schema() {
  using orrery::algebraic_type;
  using orrery::type_kind;
  orrery::table_schema s;
  s.name = "item";
  s.columns = {{"id", algebraic_type::primitive(type_kind::u64), {}},
               {"value", algebraic_type::primitive(type_kind::u64), {}},
               {"label", algebraic_type::primitive(type_kind::string), {}}};
  s.primary_key = 0;
  s.indexes = {{0, "item_id_idx_btree", orrery::index_algorithm::btree, {0}, true}};
  return s;
}

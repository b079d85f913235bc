#pragma once
// Table schemas: columns, primary key, indexes, sequences, access. What a
// module declares and the datastore enforces. Plain values.

#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/value.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace orrery {

using table_id = std::uint32_t;
using index_id = std::uint32_t;

enum class index_algorithm : std::uint8_t { btree = 0, hash = 1, direct = 2 };

struct index_schema {
  index_id id = 0;
  std::string name;  // e.g. user_identity_idx_btree
  index_algorithm algorithm = index_algorithm::btree;
  std::vector<std::uint16_t> columns;
  bool unique = false;
};

/// An auto-increment column: inserting 0 takes the next value.
struct sequence_schema {
  std::uint16_t column = 0;
  i128 start = 1;
  i128 min_value = 1;
  i128 max_value = 0;  // 0: the column type's maximum
  i128 increment = 1;
};

struct schedule_schema {
  std::string reducer;
  std::uint16_t at_column = 0;  // the ScheduleAt column
};

struct column_schema {
  std::string name;
  algebraic_type type;
  std::optional<std::string> default_bsatn;  // fills the column in rows stored before it existed
};

struct table_schema {
  table_id id = 0;
  std::string name;
  std::vector<column_schema> columns;
  std::optional<std::uint16_t> primary_key;
  std::vector<index_schema> indexes;
  std::vector<sequence_schema> sequences;
  std::optional<schedule_schema> schedule;
  bool is_public = false;
  bool is_event = false;

  algebraic_type row_type() const;
  std::optional<std::uint16_t> column_index(std::string_view column) const;
  const index_schema* index_named(std::string_view name) const;
};

/// Binary form of a schema as kept in the store.
std::string encode_schema(const table_schema& schema);
result<table_schema> decode_schema(std::string_view bytes);

} // namespace orrery

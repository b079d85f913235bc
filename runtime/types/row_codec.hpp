#pragma once
// Rows as kept in the store: a msgpack array with one element per column, in
// column order. Integers are msgpack integers (128/256-bit ones are 16/32-byte
// little-endian bin), Array<U8> is bin, arrays and products are arrays, sums
// are [tag, payload]. A row stored before a column was added lacks it; reading
// fills in the column's default.

#include "runtime/result.hpp"
#include "runtime/types/schema.hpp"

#include <string>
#include <string_view>

namespace orrery {

/// Appends the msgpack form of a BSATN row of `schema`.
void row_to_msgpack(const table_schema& schema, std::string_view bsatn, std::string& out);
/// The BSATN row of `schema` a stored msgpack row stands for.
result<std::string> row_from_msgpack(const table_schema& schema, std::string_view msgpack);

} // namespace orrery

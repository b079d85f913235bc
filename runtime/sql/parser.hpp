#pragma once
// Parses one SQL statement (the dialect of the SQL endpoint and of
// subscriptions) into a syntax tree. Errors name the position and what was
// expected, or the limit the statement goes past. Any thread.

#include "runtime/result.hpp"
#include "runtime/sql/ast.hpp"
#include "runtime/sql/limits.hpp"

#include <string_view>

namespace orrery::sql {

/// Refuses statements past the syntax bounds of `bounds`.
result<statement> parse(std::string_view text, const limits& bounds = {});

} // namespace orrery::sql

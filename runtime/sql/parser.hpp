#pragma once
// Parses one SQL statement (the dialect of the SQL endpoint and of
// subscriptions) into a syntax tree. Errors name the position and what was
// expected.

#include "runtime/result.hpp"
#include "runtime/sql/ast.hpp"

#include <string_view>

namespace orrery::sql {

result<statement> parse(std::string_view text);

} // namespace orrery::sql

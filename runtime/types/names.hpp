#pragma once
// Database names (lowercase words of [a-z0-9] joined by single hyphens), and
// the snake_case that gives a module's tables, columns and functions their
// canonical names.

#include <optional>
#include <string>
#include <string_view>

namespace orrery {

/// nullopt when `name` is a valid database name, else what is wrong with it.
std::optional<std::string> database_name_error(std::string_view name);

/// True for 64 hex digits: such a string addresses a database by identity, not name.
bool looks_like_identity(std::string_view text);

/// "sendMessage" -> "send_message", "HTTPServer" -> "http_server".
std::string snake_case(std::string_view name);

} // namespace orrery

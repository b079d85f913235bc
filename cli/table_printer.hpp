#pragma once
// psql-style tables:  a | b  over a ---+--- rule.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace orrery::cli {

/// Microseconds since the epoch as 2024-05-01T12:30:00.000000Z.
std::string format_timestamp(std::int64_t micros);

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

} // namespace orrery::cli

#pragma once
// psql-style tables:  a | b  over a ---+--- rule.

#include <ostream>
#include <string>
#include <vector>

namespace orrery::cli {

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

} // namespace orrery::cli

#pragma once
// The web console's files (net/console/), built into the binary.

#include <optional>
#include <string>
#include <string_view>

namespace orrery {

/// The console file `name` (such as "index.html" or "app.js"), if there is
/// one; it lives as long as the program.
std::optional<std::string_view> console_asset(const std::string& name);

} // namespace orrery

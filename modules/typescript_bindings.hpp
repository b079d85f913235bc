#pragma once
// Client bindings for the `spacetimedb` TypeScript SDK: the module's tables,
// row types and reducers as the SDK's DbConnection expects them.

#include "modules/module_def.hpp"

#include <string>
#include <utility>
#include <vector>

namespace orrery {

/// Files to write (relative path, contents).
std::vector<std::pair<std::string, std::string>> typescript_bindings(const module_def& def);

} // namespace orrery

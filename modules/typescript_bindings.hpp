#pragma once
// Client bindings for the `spacetimedb` TypeScript SDK: the module's tables,
// row types and reducers as the SDK's DbConnection expects them, in the
// reference generator's layout: index.ts, a file per table
// (`<table>_table.ts`) and per reducer (`<reducer>_reducer.ts`), types.ts
// with the module's named types, and types/reducers.ts, types/procedures.ts.
// Field keys are camelCase; a column whose canonical name differs carries it
// with `.name(...)`, which the SDK's query builder writes into SQL.

#include "modules/module_def.hpp"

#include <string>
#include <utility>
#include <vector>

namespace orrery {

/// Files to write (relative path, contents). Private tables and reducers
/// clients may not call are left out unless `include_private`.
std::vector<std::pair<std::string, std::string>> typescript_bindings(const module_def& def, bool include_private = false);

/// Whether a file's text is one these bindings wrote (so a new generation may remove it).
bool is_generated_binding(std::string_view text);

} // namespace orrery

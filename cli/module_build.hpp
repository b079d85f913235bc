#pragma once
// Building a module project (src/index.ts or src/index.js) into one ES module
// bundle with esbuild, lowered for the host's V8 (ES2022).

#include <string>

namespace orrery::cli {

/// Bundles the project in `project_dir` into dist/bundle.js; returns its path.
std::string build_module(const std::string& project_dir);

} // namespace orrery::cli

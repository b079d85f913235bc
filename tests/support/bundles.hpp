#pragma once
// The test modules' bundles, as `orrery build` left them in ORRERY_BUNDLE_DIR.

#include <fstream>
#include <sstream>
#include <string>

namespace orrery::testing {

/// The JavaScript of bundle `name` ("chat", "everything", ...); empty if missing.
inline std::string read_bundle(const std::string& name) {
  std::ifstream in(std::string(ORRERY_BUNDLE_DIR) + "/" + name + ".js");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace orrery::testing

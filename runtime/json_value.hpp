#pragma once
// A small JSON document model that keeps numbers as their source text, so
// 128- and 256-bit integers survive exactly. Used by SATS-JSON.

#include "runtime/result.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orrery {

struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool flag = false;
  std::string text;  // number text or string contents
  std::vector<json_value> items;                          // array
  std::vector<std::pair<std::string, json_value>> fields;  // object, in source order

  static result<json_value> parse(std::string_view text);
};

/// `s` as a quoted JSON string.
std::string json_quote(std::string_view s);

} // namespace orrery

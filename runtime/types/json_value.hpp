#pragma once
// A small JSON document model that keeps numbers as their source text, so
// 128- and 256-bit integers survive exactly. Used by SATS-JSON.
//
// parse refuses documents that nest arrays and objects deeper than
// json_max_depth, so walking a parsed document recursively (SATS-JSON
// decoding, reading types) stays within that depth. Destroying a value never
// recurses, whatever its depth. Plain values, safe to copy between threads.

#include "runtime/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orrery {

/// Deepest nesting of arrays and objects json_value::parse accepts. Room for
/// the SATS-JSON of any type the host accepts (up to max_type_depth, at four
/// JSON levels per product or sum) inside a module definition's JSON.
inline constexpr std::size_t json_max_depth = 512;

struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool flag = false;
  std::string text;  // number text or string contents
  std::vector<json_value> items;                          // array
  std::vector<std::pair<std::string, json_value>> fields;  // object, in source order

  json_value() = default;
  json_value(const json_value&) = default;
  json_value(json_value&&) = default;
  json_value& operator=(const json_value&) = default;
  json_value& operator=(json_value&&) = default;
  /// Takes nested values apart one by one instead of recursively.
  ~json_value();

  /// Fails on invalid JSON and on nesting deeper than json_max_depth.
  static result<json_value> parse(std::string_view text);
};

/// `s` as a quoted JSON string.
std::string json_quote(std::string_view s);

} // namespace orrery

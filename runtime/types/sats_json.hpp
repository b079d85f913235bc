#pragma once
// SATS-JSON: algebraic values as JSON, as the HTTP API speaks them.
// Products are arrays; sums are {"variant": payload} (the variant's name, or
// its tag as a string); Option is {"some": x} / {"none": []}; Identity,
// ConnectionId and Uuid are {"__identity__": "0x…"} and so on with hex;
// Timestamp and TimeDuration are {"__timestamp_micros_since_unix_epoch__": n};
// Array<U8> is a "0x…" hex string; 128/256-bit integers are exact numbers.

#include "runtime/result.hpp"
#include "runtime/types/algebraic_type.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/value.hpp"

#include <string>
#include <string_view>

namespace orrery {

std::string to_sats_json(const value& v, const algebraic_type& type);
void append_sats_json(std::string& out, const value& v, const algebraic_type& type);

result<value> from_sats_json(const algebraic_type& type, std::string_view json);

/// A table row as a JSON object keyed by column name, each value in SATS-JSON
/// (what the v1 JSON client protocol sends for a row).
std::string row_to_json_object(const value& row, const algebraic_type& row_type);

/// An AlgebraicType in SATS-JSON: {"U32": []}, {"Product": {"elements": [...]}}, ...
std::string type_to_json(const algebraic_type& type);
/// The inverse of type_to_json.
result<algebraic_type> type_from_json(const json_value& json);
/// A product's {"elements": [{"name": {"some": "x"}, "algebraic_type": ...}]}.
std::string product_elements_json(const algebraic_type& product);
result<value> from_sats_json(const algebraic_type& type, const json_value& json);

} // namespace orrery

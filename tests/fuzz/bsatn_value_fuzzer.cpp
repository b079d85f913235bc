// BSATN values of any type. The input is an AlgebraicType in BSATN (as module
// definitions carry them) followed by one value of that type.
//
// Properties: read_type never fails other than with bsatn_error; decode_value
// and validate agree; a decoded value encodes back to the same bytes; its
// SATS-JSON reads back to the same JSON; a type's SATS-JSON reads back to the
// same type.

#include "tests/fuzz/fuzz.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"

#include <set>
#include <string>

using namespace orrery;

namespace {
// SATS-JSON names a sum's variant by its name, or by its tag when it has none.
// Where two variants of a sum share that key, the JSON cannot say which one it
// holds, and reading it back may pick the other.
bool variant_keys_unique(const algebraic_type& t) {
  if (t.element && !variant_keys_unique(*t.element)) return false;
  std::set<std::string> keys;
  for (std::size_t tag = 0; tag < t.elements.size(); ++tag) {
    auto& e = t.elements[tag];
    if (t.kind == type_kind::sum && !keys.insert(e.name ? *e.name : std::to_string(tag)).second) return false;
    if (!variant_keys_unique(e.type)) return false;
  }
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = fuzz::as_text(data, size);
  bsatn_reader in(input);
  algebraic_type type;
  try {
    type = read_type(in);
  } catch (const bsatn_error&) {
    return 0;
  }
  (void)type_name(type);

  // The type's SATS-JSON (module_def_json writes types this way).
  std::string type_json = type_to_json(type);
  auto type_doc = json_value::parse(type_json);
  ORRERY_FUZZ_CHECK(type_doc.ok(), "type_to_json wrote JSON that does not parse");
  auto type_back = type_from_json(*type_doc);
  ORRERY_FUZZ_CHECK(type_back.ok(), "type_from_json refused what type_to_json wrote");
  ORRERY_FUZZ_CHECK(*type_back == type, "a type changed through SATS-JSON");

  std::string_view bytes(in.position(), in.remaining());
  auto decoded = decode_value(type, bytes);
  auto invalid = validate(type, bytes);
  ORRERY_FUZZ_CHECK(decoded.ok() == !invalid.has_value(), "decode_value and validate disagree");
  if (!decoded.ok()) return 0;

  ORRERY_FUZZ_CHECK(encode_value(*decoded) == bytes, "a decoded value encodes to other bytes");

  std::string json = to_sats_json(*decoded, type);
  auto back = from_sats_json(type, json);
  // Only what reads back must read back the same (a string that names no
  // variant of a sum does not read back).
  if (back.ok() && variant_keys_unique(type)) ORRERY_FUZZ_CHECK(to_sats_json(*back, type) == json, "a value changed through SATS-JSON");
  return 0;
}

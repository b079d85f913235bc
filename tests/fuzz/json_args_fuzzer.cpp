// Reducer arguments in SATS-JSON, as `POST /v1/database/:x/call/:reducer`
// takes them, read against parameters with a column of every kind
// (fuzz::reducer_params).
//
// Properties: reading fails cleanly or gives a value of the parameters'
// type, which encodes to BSATN that decodes back to the same bytes, and whose
// SATS-JSON reads back to the same JSON.

#include "tests/fuzz/fuzz.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

using namespace orrery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const algebraic_type params = fuzz::reducer_params();
  auto v = from_sats_json(params, fuzz::as_text(data, size));
  if (!v) return 0;

  std::string bytes = encode_value(*v);
  ORRERY_FUZZ_CHECK(!validate(params, bytes).has_value(), "arguments read from JSON encode to BSATN of another type");
  auto decoded = decode_value(params, bytes);
  ORRERY_FUZZ_CHECK(decoded.ok() && encode_value(*decoded) == bytes, "arguments change through BSATN");

  std::string json = to_sats_json(*v, params);
  auto back = from_sats_json(params, json);
  ORRERY_FUZZ_CHECK(back.ok(), "from_sats_json refused what to_sats_json wrote");
  ORRERY_FUZZ_CHECK(to_sats_json(*back, params) == json, "arguments change through SATS-JSON");
  return 0;
}

// WebSocket client messages: one frame from a client of the `spacetimedb` SDK
// (v2 messages in BSATN; a v3 frame holds several back to back), decoded as
// the connection actor decodes them, then taken one step further as the
// database would: queries parsed, reducer arguments decoded.
//
// Properties: decoding fails cleanly or gives at least one message; a frame
// that decodes keeps decoding the same way when it is the tail of a longer
// frame. The same bytes are also read as a v1 JSON client message, and
// translated as if the database had sent them to a v1 client: either ends
// cleanly, whatever the bytes.

#include "tests/fuzz/fuzz.hpp"

#include "actors/client_protocol.hpp"
#include "actors/v1_json_protocol.hpp"
#include "runtime/sql/parser.hpp"
#include "runtime/types/bsatn.hpp"

using namespace orrery;

namespace {

// A v1 client of a module with one table `t` (a u32 and a string) and a
// procedure `p` returning a string, waiting for an answer to a request of
// every kind (v2 request ids 1 to 8), with a legacy and a multi subscription.
v1_session v1_client() {
  module_def def;
  table_schema t;
  t.name = "t";
  t.columns = {{"id", algebraic_type::primitive(type_kind::u32), {}}, {"text", algebraic_type::primitive(type_kind::string), {}}};
  def.tables.push_back(t);
  procedure_def p;
  p.name = p.source_name = "p";
  p.params = algebraic_type::unit();
  p.returns = algebraic_type::primitive(type_kind::string);
  def.procedures.push_back(p);
  v1_session session;
  session.def = std::make_shared<const module_def>(std::move(def));
  using kind = v1_session::pending::kind;
  std::uint32_t id = 1;
  for (kind k : {kind::subscribe, kind::subscribe_single, kind::subscribe_multi, kind::unsubscribe, kind::one_off,
                 kind::reducer, kind::procedure, kind::replace}) {
    v1_session::pending pending;
    pending.type = k;
    pending.request_id = id;
    pending.name = k == kind::procedure ? "p" : "send_message";
    session.requests[id++] = pending;
  }
  session.next_request = id;
  session.legacy_set = v1_legacy_query_sets;
  session.queries[1] = true;
  return session;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view frame = fuzz::as_text(data, size);
  v1_session v1 = v1_client();
  (void)v1_decode_client(frame, v1);
  (void)v1_translate(frame, v1);

  auto decoded = decode_client_frame(frame);
  if (!decoded) return 0;
  ORRERY_FUZZ_CHECK(!decoded->empty(), "a frame decoded to no message");

  static const algebraic_type send_message = fuzz::send_message_params();
  for (const client_request& r : *decoded) {
    for (const std::string& q : r.queries) (void)sql::parse(q);
    if (r.type == client_request::kind::call_reducer || r.type == client_request::kind::call_procedure) {
      auto args = decode_value(send_message, r.args);
      ORRERY_FUZZ_CHECK(args.ok() == !validate(send_message, r.args).has_value(),
                        "decode_value and validate disagree on reducer arguments");
    }
  }

  // The same messages after an unsubscribe in the same frame.
  std::string longer;
  bsatn_writer w(longer);
  w.u8(1);
  w.u32(0);
  w.u32(0);
  w.u8(0);
  longer.append(frame);
  auto both = decode_client_frame(longer);
  ORRERY_FUZZ_CHECK(both.ok() && both->size() == decoded->size() + 1, "a frame decodes differently after another message");
  for (std::size_t i = 0; i < decoded->size(); ++i) {
    const client_request &a = (*decoded)[i], &b = (*both)[i + 1];
    ORRERY_FUZZ_CHECK(a.type == b.type && a.request_id == b.request_id && a.query_set_id == b.query_set_id &&
                        a.flags == b.flags && a.queries == b.queries && a.name == b.name && a.args == b.args,
                      "a message decodes differently after another message");
  }
  return 0;
}

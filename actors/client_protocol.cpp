#include "actors/client_protocol.hpp"

#include "runtime/types/bsatn.hpp"

namespace orrery {
namespace {

void put_identity(bsatn_writer& w, const identity& id) {
  for (std::size_t i = id.bytes.size(); i-- > 0;) w.u8(id.bytes[i]);  // U256, little-endian
}

void put_connection(bsatn_writer& w, const connection_id& c) {
  for (std::size_t i = c.bytes.size(); i-- > 0;) w.u8(c.bytes[i]);
}

// BsatnRowList: RowOffsets size hint, then the rows back to back.
void put_rows(bsatn_writer& w, const std::vector<std::string>& rows) {
  w.u8(1);
  w.u32(std::uint32_t(rows.size()));
  std::uint64_t offset = 0;
  for (auto& r : rows) {
    w.fixed(offset);
    offset += r.size();
  }
  w.u32(std::uint32_t(offset));
  for (auto& r : rows) w.raw(r);
}

void put_query_rows(bsatn_writer& w, const std::vector<table_rows>& tables) {
  w.u32(std::uint32_t(tables.size()));
  for (auto& t : tables) {
    w.string(t.table);
    put_rows(w, t.rows);
  }
}

void put_transaction_update(bsatn_writer& w, const std::vector<query_set_changes>& sets) {
  w.u32(std::uint32_t(sets.size()));
  for (auto& s : sets) {
    w.u32(s.query_set_id);
    w.u32(std::uint32_t(s.tables.size()));
    for (auto& t : s.tables) {
      w.string(t.table);
      w.u32(1);
      w.u8(t.event ? 1 : 0);  // EventTable or PersistentTable
      put_rows(w, t.inserts);
      if (!t.event) put_rows(w, t.deletes);
    }
  }
}

} // namespace

result<std::vector<client_request>> decode_client_frame(std::string_view frame) {
  std::vector<client_request> out;
  try {
    bsatn_reader in(frame);
    do {
      if (out.size() == max_requests_per_frame)
        return fail(errc::invalid_argument, "a frame holds more than " + std::to_string(max_requests_per_frame) +
                                              " client messages, the limit");
      client_request r;
      std::uint8_t tag = in.u8();
      if (tag > 4) return fail(errc::invalid_argument, "unknown client message tag " + std::to_string(tag));
      r.type = client_request::kind(tag);
      r.request_id = in.u32();
      switch (r.type) {
        case client_request::kind::subscribe: {
          r.query_set_id = in.u32();
          std::uint32_t n = in.u32();
          if (n > max_queries_per_subscribe)
            return fail(errc::invalid_argument, "a Subscribe names " + std::to_string(n) + " queries, more than the limit of " +
                                                  std::to_string(max_queries_per_subscribe));
          for (; n > 0; --n) r.queries.emplace_back(in.string());
          break;
        }
        case client_request::kind::unsubscribe:
          r.query_set_id = in.u32();
          r.flags = in.u8();
          break;
        case client_request::kind::one_off_query: r.queries.emplace_back(in.string()); break;
        case client_request::kind::call_reducer:
        case client_request::kind::call_procedure: {
          r.flags = in.u8();
          r.name = std::string(in.string());
          r.args = std::string(in.take(in.u32()));
          break;
        }
      }
      out.push_back(std::move(r));
    } while (in.remaining() > 0);
  } catch (const bsatn_error& e) {
    return fail(errc::bsatn_decode, std::string("bad client message: ") + e.what());
  }
  return out;
}

std::string encode_initial_connection(const identity& id, const connection_id& connection, const std::string& token) {
  std::string out;
  bsatn_writer w(out);
  w.u8(0);
  put_identity(w, id);
  put_connection(w, connection);
  w.string(token);
  return out;
}

std::string encode_subscribe_applied(std::uint32_t request_id, std::uint32_t query_set_id, const std::vector<table_rows>& rows) {
  std::string out;
  bsatn_writer w(out);
  w.u8(1);
  w.u32(request_id);
  w.u32(query_set_id);
  put_query_rows(w, rows);
  return out;
}

std::string encode_unsubscribe_applied(std::uint32_t request_id, std::uint32_t query_set_id,
                                       const std::optional<std::vector<table_rows>>& rows) {
  std::string out;
  bsatn_writer w(out);
  w.u8(2);
  w.u32(request_id);
  w.u32(query_set_id);
  if (rows) {
    w.u8(0);
    put_query_rows(w, *rows);
  } else {
    w.u8(1);
  }
  return out;
}

std::string encode_subscription_error(std::optional<std::uint32_t> request_id, std::uint32_t query_set_id,
                                      const std::string& error) {
  std::string out;
  bsatn_writer w(out);
  w.u8(3);
  if (request_id) {
    w.u8(0);
    w.u32(*request_id);
  } else {
    w.u8(1);
  }
  w.u32(query_set_id);
  w.string(error);
  return out;
}

std::string encode_transaction_update(const std::vector<query_set_changes>& sets) {
  std::string out;
  bsatn_writer w(out);
  w.u8(4);
  put_transaction_update(w, sets);
  return out;
}

std::string encode_one_off_result(std::uint32_t request_id, const std::vector<table_rows>* rows, const std::string& error) {
  std::string out;
  bsatn_writer w(out);
  w.u8(5);
  w.u32(request_id);
  if (rows) {
    w.u8(0);
    put_query_rows(w, *rows);
  } else {
    w.u8(1);
    w.string(error);
  }
  return out;
}

std::string encode_reducer_result(std::uint32_t request_id, std::int64_t timestamp_micros, reducer_outcome outcome,
                                  const std::string& message, const std::vector<query_set_changes>& own_changes) {
  std::string out;
  bsatn_writer w(out);
  w.u8(6);
  w.u32(request_id);
  w.fixed(timestamp_micros);
  switch (outcome) {
    case reducer_outcome::ok:
      w.u8(0);
      w.u32(0);  // no return value
      put_transaction_update(w, own_changes);
      break;
    case reducer_outcome::err: {
      w.u8(2);
      std::string payload;
      bsatn_writer(payload).string(message);  // Err holds a BSATN string
      w.string(payload);
      break;
    }
    case reducer_outcome::internal_error:
      w.u8(3);
      w.string(message);
      break;
  }
  return out;
}

std::string encode_procedure_returned(std::uint32_t request_id, std::int64_t timestamp_micros,
                                      std::int64_t duration_micros, std::string_view value) {
  std::string out;
  bsatn_writer w(out);
  w.u8(7);
  w.u8(0);
  w.u32(std::uint32_t(value.size()));
  w.raw(value);
  w.fixed(timestamp_micros);
  w.fixed(duration_micros);
  w.u32(request_id);
  return out;
}

std::string encode_procedure_error(std::uint32_t request_id, std::int64_t timestamp_micros, const std::string& error) {
  std::string out;
  bsatn_writer w(out);
  w.u8(7);
  w.u8(1);
  w.string(error);
  w.fixed(timestamp_micros);
  w.fixed(std::int64_t(0));
  w.u32(request_id);
  return out;
}

} // namespace orrery

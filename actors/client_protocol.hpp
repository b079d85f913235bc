#pragma once
// The v2 client protocol's messages (BSATN), as the `spacetimedb` 2.10.1
// client SDK reads and writes them: decoding client messages and encoding
// server messages. Pure functions; any thread.

#include "runtime/result.hpp"
#include "runtime/types/identity.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orrery {

struct client_request {
  enum class kind : std::uint8_t { subscribe = 0, unsubscribe = 1, one_off_query = 2, call_reducer = 3, call_procedure = 4 };
  kind type = kind::subscribe;
  std::uint32_t request_id = 0;
  std::uint32_t query_set_id = 0;
  std::uint8_t flags = 0;                 // unsubscribe: 1 = send dropped rows
  std::vector<std::string> queries;       // subscribe; one query for one-off
  std::string name;                       // reducer or procedure
  std::string args;                       // BSATN, or SATS-JSON when `json`
  bool json = false;                      // a v1 JSON client: JSON arguments, one-off rows as JSON objects
};

/// Client messages one frame may hold (the SDK packs up to 256 KiB of them,
/// at least 10 bytes each), and queries one Subscribe may name.
constexpr std::size_t max_requests_per_frame = 32768;
constexpr std::size_t max_queries_per_subscribe = 256;

/// Decodes the client messages in one frame (v3 frames may hold several);
/// a frame past either limit is refused whole.
result<std::vector<client_request>> decode_client_frame(std::string_view frame);

/// Rows of one table; each entry is one BSATN row.
struct table_rows {
  std::string table;
  std::vector<std::string> rows;
};

/// One table's changes inside a query set.
struct table_changes {
  std::string table;
  std::vector<std::string> inserts, deletes;
  bool event = false;  // an event table: `inserts` are its events, and nothing is deleted
};

struct query_set_changes {
  std::uint32_t query_set_id = 0;
  std::vector<table_changes> tables;
};

std::string encode_initial_connection(const identity& id, const connection_id& connection, const std::string& token);
std::string encode_subscribe_applied(std::uint32_t request_id, std::uint32_t query_set_id, const std::vector<table_rows>& rows);
std::string encode_unsubscribe_applied(std::uint32_t request_id, std::uint32_t query_set_id,
                                       const std::optional<std::vector<table_rows>>& rows);
std::string encode_subscription_error(std::optional<std::uint32_t> request_id, std::uint32_t query_set_id,
                                      const std::string& error);
std::string encode_transaction_update(const std::vector<query_set_changes>& sets);
std::string encode_one_off_result(std::uint32_t request_id, const std::vector<table_rows>* rows, const std::string& error);

enum class reducer_outcome { ok, err, internal_error };
std::string encode_reducer_result(std::uint32_t request_id, std::int64_t timestamp_micros, reducer_outcome outcome,
                                  const std::string& message, const std::vector<query_set_changes>& own_changes);
std::string encode_procedure_error(std::uint32_t request_id, std::int64_t timestamp_micros, const std::string& error);
/// ProcedureResult with status Returned: the procedure's return value (BSATN).
std::string encode_procedure_returned(std::uint32_t request_id, std::int64_t timestamp_micros,
                                      std::int64_t duration_micros, std::string_view value);

} // namespace orrery

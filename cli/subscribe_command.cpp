// `orrery subscribe`: follows queries over the WebSocket protocol and prints
// one JSON line per update: {"table": {"deletes": [...], "inserts": [...]}}.

#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/login.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <iostream>
#include <map>

namespace orrery::cli {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

// Each table's row type, from the database's module definition.
std::map<std::string, algebraic_type> row_types(const http_client& client, const std::string& db) {
  http_reply reply = client.request("GET", "/v1/database/" + url_encode(db) + "/schema?version=9");
  if (!reply.ok()) throw cli_error("cannot read the schema of `" + db + "` (HTTP " + std::to_string(reply.status) + "): " + reply.body);
  auto def = json_value::parse(reply.body);
  if (!def) throw cli_error("unreadable schema: " + def.error().message);
  auto find = [](const json_value& j, std::string_view name) -> const json_value* {
    for (auto& [k, v] : j.fields)
      if (k == name) return &v;
    return nullptr;
  };
  std::vector<algebraic_type> space;
  for (auto& t : find(*find(*def, "typespace"), "types")->items) space.push_back(*type_from_json(t));
  std::map<std::string, algebraic_type> out;
  for (auto& t : find(*def, "tables")->items)
    out[find(t, "name")->text] = space.at(std::stoul(find(t, "product_type_ref")->text));
  return out;
}

std::vector<std::string_view> split_rows(bsatn_reader& in) {
  std::uint8_t hint = in.u8();
  std::vector<std::uint64_t> offsets;
  std::uint16_t fixed = 0;
  if (hint == 0) fixed = in.fixed<std::uint16_t>();
  else
    for (std::uint32_t n = in.u32(); n > 0; --n) offsets.push_back(in.fixed<std::uint64_t>());
  std::string_view data = in.take(in.u32());
  std::vector<std::string_view> rows;
  if (hint == 0) {
    for (std::size_t at = 0; fixed && at + fixed <= data.size(); at += fixed) rows.push_back(data.substr(at, fixed));
  } else {
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      std::uint64_t end = i + 1 < offsets.size() ? offsets[i + 1] : data.size();
      rows.push_back(data.substr(offsets[i], end - offsets[i]));
    }
  }
  return rows;
}

struct update {
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> tables;  // inserts, deletes
};

std::string json_rows(const std::vector<std::string>& rows, const algebraic_type& type) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto v = decode_value(type, rows[i]);
    out += (i ? "," : "") + (v ? to_sats_json(*v, type) : std::string("null"));
  }
  return out + "]";
}

void print(const update& u, const std::map<std::string, algebraic_type>& types) {
  std::string line = "{";
  bool first = true;
  for (auto& [table, rows] : u.tables) {
    auto it = types.find(table);
    algebraic_type type = it == types.end() ? algebraic_type::unit() : it->second;
    line += std::string(first ? "" : ",") + json_quote(table) + ":{\"deletes\":" + json_rows(rows.second, type) +
            ",\"inserts\":" + json_rows(rows.first, type) + "}";
    first = false;
  }
  std::cout << line << "}" << std::endl;
}

struct options {
  std::string server, db;
  std::vector<std::string> queries;
  std::optional<int> updates;
  std::optional<double> timeout;
  bool initial = false, anonymous = false;
};

void run(const options& o) {
  config cfg = config::load();
  auto& entry = cfg.resolve(o.server.empty() ? std::nullopt : std::optional(o.server));
  std::string token = o.anonymous ? "" : token_for(cfg, entry);
  http_client client(entry.url, token);
  auto types = row_types(client, o.db);

  std::string hostport = entry.url.substr(entry.url.find("://") + 3);
  auto colon = hostport.rfind(':');
  boost::asio::io_context io;
  websocket::stream<beast::tcp_stream> ws(io);
  try {
    ws.next_layer().connect(tcp::resolver(io).resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(beast::http::field::sec_websocket_protocol, "v2.bsatn.spacetimedb");
      if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
    }));
    ws.binary(true);
    ws.handshake(hostport, "/v1/database/" + url_encode(o.db) + "/subscribe?compression=None");
  } catch (const std::exception& e) {
    throw cli_error("cannot subscribe to `" + o.db + "` at " + entry.url + ": " + e.what());
  }
  std::string subscribe;
  bsatn_writer w(subscribe);
  w.u8(0);
  w.u32(1);
  w.u32(1);
  w.u32(std::uint32_t(o.queries.size()));
  for (auto& q : o.queries) w.string(q);
  ws.write(boost::asio::buffer(subscribe));

  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(o.timeout ? long(*o.timeout * 1000) : 1000L * 3600 * 24 * 365);
  int seen = 0;
  beast::flat_buffer buffer;
  for (;;) {
    if (o.updates && seen >= *o.updates) return;
    // An asynchronous read, so the deadline can end the wait.
    bool arrived = false;
    beast::error_code ec;
    ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
      ec = e;
      arrived = true;
    });
    io.restart();
    io.run_until(deadline);
    if (!arrived) return;  // -t elapsed
    if (ec) throw cli_error("the connection closed: " + ec.message());
    std::string frame = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    if (frame.size() < 2 || frame[0] != 0) continue;
    bsatn_reader in(std::string_view(frame).substr(1));
    std::uint8_t tag = in.u8();
    if (tag == 3) {  // SubscriptionError
      if (in.u8() == 0) in.u32();
      in.u32();
      throw cli_error("subscription failed: " + std::string(in.string()));
    }
    update u;
    if (tag == 1 && o.initial) {  // SubscribeApplied
      in.u32();
      in.u32();
      for (std::uint32_t n = in.u32(); n > 0; --n) {
        std::string table(in.string());
        for (auto row : split_rows(in)) u.tables[table].first.emplace_back(row);
      }
      print(u, types);
    } else if (tag == 4) {  // TransactionUpdate
      for (std::uint32_t sets = in.u32(); sets > 0; --sets) {
        in.u32();
        for (std::uint32_t tables = in.u32(); tables > 0; --tables) {
          std::string table(in.string());
          for (std::uint32_t k = in.u32(); k > 0; --k) {
            std::uint8_t kind = in.u8();
            auto& [inserts, deletes] = u.tables[table];
            for (auto row : split_rows(in)) inserts.emplace_back(row);
            if (kind == 0)
              for (auto row : split_rows(in)) deletes.emplace_back(row);
          }
        }
      }
      print(u, types);
      ++seen;
    }
  }
}

} // namespace

void add_subscribe_command(CLI::App& app) {
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("subscribe", "Follow queries and print each update as a JSON line");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("queries", o->queries, "SELECT queries")->required();
  cmd->add_option("-n,--num-updates", o->updates, "Stop after this many updates");
  cmd->add_option("-t,--timeout", o->timeout, "Stop after this many seconds");
  cmd->add_flag("--print-initial-update", o->initial, "Print the rows the subscription starts with");
  cmd->add_flag("--anonymous", o->anonymous, "Subscribe as a fresh anonymous identity");
  cmd->add_option("-s,--server", o->server, "Server nickname or URL");
  cmd->callback([o] {
    try {
      run(*o);
    } catch (const bsatn_error& e) {
      throw cli_error(std::string("unreadable message from the host: ") + e.what());
    }
  });
}

} // namespace orrery::cli

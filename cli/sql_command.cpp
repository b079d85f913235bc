// `orrery sql`: ad-hoc queries and DML, one statement or a prompt.

#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/login.hpp"
#include "cli/table_printer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace orrery::cli {
namespace {

using json = nlohmann::json;

// A SATS-JSON value as a table cell: strings bare, ids as hex, options unwrapped.
std::string cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.size() == 1) {
    auto only = v.begin();  // (not items(): its proxy dies with the statement)
    const std::string& key = only.key();
    const json& inner = only.value();
    if (key == "none") return "";
    if (key == "__timestamp_micros_since_unix_epoch__" && inner.is_number_integer())
      return format_timestamp(inner.get<std::int64_t>());
    if (key == "some" || key.rfind("__", 0) == 0) return cell(inner);
    return key + (inner.is_array() && inner.empty() ? "" : "(" + cell(inner) + ")");
  }
  return v.dump();
}

struct options {
  std::string server, db, query, format = "text";
  bool anonymous = false, interactive = false;
};

// Runs one statement and prints its result; false when the host refused it.
bool run_statement(const http_client& client, const options& o, const std::string& query, bool timing) {
  auto started = std::chrono::steady_clock::now();
  http_reply reply = client.request("POST", "/v1/database/" + url_encode(o.db) + "/sql", query, "text/plain");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!reply.ok()) {
    std::cerr << "error (HTTP " << reply.status << "): " << reply.body << "\n";
    return false;
  }
  if (o.format == "json") {
    std::cout << reply.body << "\n";
    return true;
  }
  for (auto& result : json::parse(reply.body)) {
    auto& elements = result["schema"]["elements"];
    auto& stats = result["stats"];
    if (elements.empty()) {
      std::cout << stats.value("rows_inserted", 0) << " inserted, " << stats.value("rows_updated", 0)
                << " updated, " << stats.value("rows_deleted", 0) << " deleted\n";
    } else {
      std::vector<std::string> header;
      for (auto& e : elements) header.push_back(e["name"].value("some", ""));
      std::vector<std::vector<std::string>> rows;
      for (auto& row : result["rows"]) {
        std::vector<std::string> cells;
        for (auto& v : row) cells.push_back(cell(v));
        rows.push_back(std::move(cells));
      }
      print_table(std::cout, header, rows);
      if (timing) std::cout << "(" << rows.size() << (rows.size() == 1 ? " row" : " rows") << ")\n";
    }
    if (timing) std::printf("Time: %.3f ms\n", ms);
  }
  return true;
}

void interactive(const http_client& client, const options& o) {
  namespace fs = std::filesystem;
  fs::path history = fs::path(config::path()).parent_path() / "sql_history";
  fs::create_directories(history.parent_path());
  std::ofstream log(history, std::ios::app);
  std::cout << "Connected to " << o.db << ". Statements end at the line's end; .exit quits, .clear clears.\n";
  for (std::string line;;) {
    std::cout << o.db << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == ".exit" || line == ".quit") break;
    if (line.empty()) continue;
    if (line == ".clear") {
      std::cout << "\x1b[2J\x1b[H";
      continue;
    }
    log << line << "\n" << std::flush;
    run_statement(client, o, line, true);
  }
  std::cout << "\n";
}

} // namespace

void add_sql_command(CLI::App& app) {
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("sql", "Run SQL against a database (developers and up may also INSERT, UPDATE, DELETE)");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("query", o->query, "The statement (omit with --interactive)");
  cmd->add_flag("--anonymous", o->anonymous, "Run as a fresh anonymous identity (public tables only)");
  cmd->add_flag("-i,--interactive", o->interactive, "Open a prompt");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("-s,--server", o->server, "Server nickname or URL");
  cmd->callback([o] {
    if (o->query.empty() && !o->interactive) throw cli_error("give a query, or --interactive");
    config cfg = config::load();
    auto& entry = cfg.resolve(o->server.empty() ? std::nullopt : std::optional(o->server));
    http_client client(entry.url, o->anonymous ? "" : token_for(cfg, entry));
    if (o->interactive) return interactive(client, *o);
    if (!run_statement(client, *o, o->query, false)) throw cli_error("the query failed");
  });
}

} // namespace orrery::cli

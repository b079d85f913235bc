// publish, delete, list, logs and rename: managing databases on a host.

#include "cli/commands.hpp"
#include "cli/host_session.hpp"
#include "cli/http_client.hpp"
#include "cli/login.hpp"
#include "cli/module_build.hpp"
#include "cli/table_printer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

namespace orrery::cli {
namespace {

using json = nlohmann::json;

std::string db_path(const std::string& db) { return "/v1/database/" + url_encode(db); }

bool confirm(const std::string& question) {
  std::cout << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw cli_error("cannot read `" + path + "`");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Log levels from least to most severe.
int level_rank(std::string level) {
  for (auto& c : level) c = char(std::tolower(static_cast<unsigned char>(c)));
  static const char* order[] = {"trace", "debug", "info", "warn", "error", "panic"};
  for (int i = 0; i < 6; ++i)
    if (level == order[i]) return i;
  return -1;
}

std::string format_log_line(const json& line) {
  std::string level = line.value("level", "");
  for (auto& c : level) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string text = format_timestamp(line.value("ts", std::int64_t(0))) + " " +
                     std::string(level.size() < 5 ? 5 - level.size() : 0, ' ') + level + ":";
  if (line.contains("function")) text += " " + line["function"].get<std::string>();
  if (line.contains("filename")) {
    text += " " + line["filename"].get<std::string>();
    if (line.contains("line_number")) text += ":" + std::to_string(line["line_number"].get<int>());
    text += ":";
  }
  return text + " " + line.value("message", "");
}

void add_publish(CLI::App& app) {
  struct options {
    server_option server;
    std::string name, js_path, project = ".", module_hash;
    bool yes = false, anonymous = false, break_clients = false, dry_run = false;
    std::string delete_data = "never";
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("publish", "Create a database from a module bundle, or update its module");
  cmd->add_option("name", o->name, "Database name or identity (default: a new unnamed database)");
  cmd->add_option("-j,--js-path", o->js_path, "A built JavaScript bundle (default: build the project)");
  cmd->add_option("-p,--module-path", o->project, "The module project to build")->capture_default_str();
  cmd->add_option("--module-hash", o->module_hash,
                  "A module the host already stores for you (printed by an earlier publish): no upload, no build")
    ->excludes("--js-path")
    ->check([](const std::string& hash) {
      bool hex = hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos;
      return hex ? std::string() : "a module hash is 64 lowercase hex digits, as publish prints it";
    });
  // Without a value, --delete-data means always.
  cmd->add_flag("-c{always},--delete-data{always}", o->delete_data,
                "Delete the existing data: always, on-conflict or never (default never)");
  cmd->add_flag("-y,--yes", o->yes, "Do not ask for confirmation (accepting changes that break clients)");
  cmd->add_flag("--break-clients", o->break_clients,
                "Accept a migration that breaks existing clients (they are disconnected)");
  cmd->add_flag("--dry-run", o->dry_run, "Print the migration plan of an update, and publish nothing");
  cmd->add_flag("--anonymous", o->anonymous, "Publish as a fresh anonymous identity");
  o->server.add_to(cmd);
  cmd->callback([o] {
    std::string bundle;
    if (o->module_hash.empty()) bundle = read_file(o->js_path.empty() ? build_module(o->project) : o->js_path);
    auto client = connect(o->server, o->anonymous);
    if (o->delete_data != "always" && o->delete_data != "never" && o->delete_data != "on-conflict")
      throw cli_error("--delete-data takes always, on-conflict or never, not `" + o->delete_data + "`");
    bool clear = o->delete_data == "always", break_clients = o->break_clients;
    // An existing database migrates: show the plan first, and ask before breaking clients or clearing data.
    if (o->dry_run && !o->module_hash.empty())
      throw cli_error("--dry-run plans with the module's bundle: give -j or -p, not --module-hash");
    if (!o->name.empty() && !clear && o->module_hash.empty()) {
      http_reply planned = client.request("POST", db_path(o->name) + "/pre_publish", bundle, "application/javascript");
      if (planned.status == 404 && o->dry_run) {
        std::cout << "There is no database `" << o->name << "` yet: publishing creates it.\n";
        return;
      }
      // Not the caller's database: the publish itself says so.
      const bool theirs = planned.status == 401 || planned.status == 403;
      if (theirs && o->dry_run) fail("cannot plan the update", planned);
      if (planned.status != 404 && !theirs) {
        if (!planned.ok()) fail("cannot plan the update", planned);
        json answer = json::parse(planned.body);
        if (answer.contains("ManualMigrate")) {
          std::cout << answer["ManualMigrate"]["reason"].get<std::string>();
          if (o->dry_run) throw cli_error("the plan is refused: the update needs the data cleared");
          if (o->delete_data != "on-conflict")
            throw cli_error("not published: the update needs the data cleared (--delete-data=on-conflict clears it "
                            "when it must), or an incremental migration");
          if (!o->yes && !confirm("This will DELETE ALL DATA of database " + o->name + ". Proceed?"))
            throw cli_error("Aborted.");
          clear = true;
        } else {
          const json& plan = answer.at("AutoMigrate");
          std::cout << plan.at("migrate_plan").get<std::string>();
          if (o->dry_run) return;
          if (plan.at("break_clients").get<bool>() && !break_clients) {
            if (!o->yes && !confirm("The above changes will BREAK existing clients. Do you want to proceed?"))
              throw cli_error("Publishing aborted: the update breaks clients");
            break_clients = true;
          }
        }
      }
    } else if (o->dry_run) {
      std::cout << (clear ? "Publishing would delete the data and start over with the new module.\n"
                          : "Publishing would create a new database.\n");
      return;
    }
    std::string target = o->name.empty() ? "/v1/database" : db_path(o->name);
    std::string method = o->name.empty() ? "POST" : "PUT";
    std::string query = "?host_type=Js" + std::string(clear ? "&clear=true" : "") +
                        (break_clients ? "&policy=BreakClients" : "") +
                        (o->module_hash.empty() ? "" : "&module_hash=" + o->module_hash);
    http_reply reply = client.request(method, target + query, bundle, "application/javascript");
    if (!reply.ok()) fail("publish failed", reply);
    json success = json::parse(reply.body).at("Success");
    std::string name = success["domain"].is_string() ? success["domain"].get<std::string>() : "";
    bool created = success.value("op", "") == "created";
    std::cout << (created ? "Created new database" : "Updated database")
              << (name.empty() ? "" : " with name: " + name + ",") << " identity: "
              << success.value("database_identity", "") << ", module hash: " << success.value("module_hash", "")
              << "\n";
  });
}

void add_delete(CLI::App& app) {
  struct options {
    server_option server;
    std::string db;
    bool yes = false;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("delete", "Delete a database and all its data");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_flag("-y,--yes", o->yes, "Do not ask for confirmation");
  o->server.add_to(cmd);
  cmd->callback([o] {
    auto client = connect(o->server);
    http_reply id = client.request("GET", db_path(o->db) + "/identity");
    if (!id.ok()) fail("cannot find database `" + o->db + "`", id);
    if (!o->yes && !confirm("Are you sure you want to delete database " + o->db + " (" + id.body +
                            ")? This action cannot be undone."))
      throw cli_error("not deleted");
    http_reply reply = client.request("DELETE", db_path(o->db));
    if (!reply.ok()) fail("delete failed", reply);
    std::cout << "Deleted database " << o->db << " (" << id.body << ")\n";
  });
}

void add_list(CLI::App& app) {
  auto server = std::make_shared<server_option>();
  auto long_form = std::make_shared<bool>(false);
  auto cmd = app.add_subcommand("list", "List the databases you own or that are shared with you, with your role");
  cmd->add_flag("-l,--long", *long_form, "Also show whether each is awake and the memory it holds");
  server->add_to(cmd);
  cmd->callback([server, long_form] {
    config cfg = config::load();
    auto& entry = cfg.resolve(server->get());
    http_client client(entry.url, token_for(cfg, entry));
    http_reply reply = client.request("GET", "/v1/access/databases");
    if (!reply.ok()) fail("cannot list databases", reply);
    std::vector<std::vector<std::string>> rows;
    const json listed = json::parse(reply.body);  // the loop reads into it
    for (auto& db : listed.at("databases")) {
      const std::string id = db.at("identity").get<std::string>();
      std::string joined;
      for (auto& n : db.at("names")) joined += (joined.empty() ? "" : ", ") + n.get<std::string>();
      rows.push_back({joined, id, db.at("role").get<std::string>()});
      if (!*long_form) continue;
      http_reply usage = client.request("GET", db_path(id) + "/usage");
      if (!usage.ok()) {  // deleted meanwhile, or too busy to answer: the others are still listed
        rows.back().insert(rows.back().end(), {"unknown (HTTP " + std::to_string(usage.status) + ")", "-"});
        continue;
      }
      json u = json::parse(usage.body);
      char memory[32];
      std::snprintf(memory, sizeof memory, "%.1f MB", u.at("memory_bytes").get<double>() / 1e6);
      rows.back().push_back(u.at("state").get<std::string>());
      rows.back().push_back(u.at("state") == "awake" ? memory : "-");
    }
    std::cout << "Associated databases for user " << entry.identity << ":\n\n";
    if (*long_form) print_table(std::cout, {"Database Name(s)", "Identity", "Role", "State", "Memory"}, rows);
    else print_table(std::cout, {"Database Name(s)", "Identity", "Role"}, rows);
  });
}

/// Microseconds since the epoch of `text`: an age (`90s`, `15m`, `2h`, `7d` ago)
/// or a UTC time (`2026-11-30`, `2026-11-30T14:05:00Z`, `2026-11-30 14:05`).
std::int64_t parse_time(const std::string& text) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  std::smatch m;
  if (std::regex_match(text, m, std::regex(R"((\d{1,6})(s|m|h|d))"))) {  // at most a million units: no overflow
    const std::int64_t unit = m[2] == "s" ? 1 : m[2] == "m" ? 60 : m[2] == "h" ? 3600 : 86400;
    return now - std::stoll(m[1]) * unit * 1000000;
  }
  if (std::regex_match(text, m, std::regex(R"((\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?Z?)"))) {
    std::tm t{};
    t.tm_year = std::stoi(m[1]) - 1900;
    t.tm_mon = std::stoi(m[2]) - 1;
    t.tm_mday = std::stoi(m[3]);
    if (m[4].matched) t.tm_hour = std::stoi(m[4]), t.tm_min = std::stoi(m[5]);
    if (m[6].matched) t.tm_sec = std::stoi(m[6]);
    const std::tm asked = t;
    const std::int64_t seconds = timegm(&t);  // normalises what is out of range: then it differs
    if (t.tm_mon == asked.tm_mon && t.tm_mday == asked.tm_mday && t.tm_hour == asked.tm_hour &&
        t.tm_min == asked.tm_min && t.tm_sec == asked.tm_sec)
      return seconds * 1000000;
  }
  throw cli_error("a time is an age like 15m, 2h or 7d, or a UTC time like 2026-11-30T14:05:00Z, not `" + text + "`");
}

void add_logs(CLI::App& app) {
  struct options {
    server_option server;
    std::string db, format = "text", level, grep, since, until;
    std::optional<std::uint32_t> lines;
    bool follow = false, level_exact = false;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("logs", "Print a database's log (viewer role or above)");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("-n,--num-lines", o->lines, "How many of the latest lines");
  cmd->add_flag("-f,--follow", o->follow, "Keep printing new lines");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("-l,--level", o->level, "Lowest level shown: trace, debug, info, warn, error, panic")
    ->check([](const std::string& l) { return level_rank(l) < 0 ? "unknown level `" + l + "`" : ""; });
  cmd->add_flag("--level-exact", o->level_exact, "Show only lines of exactly --level");
  cmd->add_option("--grep", o->grep, "Only lines whose message holds this text (any case)");
  cmd->add_option("--since", o->since, "Only lines from this time: an age (15m, 2h, 7d) or a UTC time");
  cmd->add_option("--until", o->until, "Only lines before this time: an age (15m, 2h, 7d) or a UTC time");
  o->server.add_to(cmd);
  cmd->callback([o] {
    auto client = connect(o->server);
    std::uint32_t n = o->lines ? *o->lines : (o->follow ? 10 : 0);
    std::string target = db_path(o->db) + "/logs?num_lines=" + std::to_string(n) +
                         (o->follow ? "&follow=true" : "");
    // A search runs on the host over the whole kept log; followed lines are filtered here.
    if (!o->follow) {
      if (!o->grep.empty()) target += "&grep=" + url_encode(o->grep);
      if (!o->level.empty()) target += "&level=" + url_encode(o->level);
      if (!o->since.empty()) target += "&since=" + std::to_string(parse_time(o->since));
      if (!o->until.empty()) target += "&until=" + std::to_string(parse_time(o->until));
    } else if (!o->since.empty() || !o->until.empty()) {
      throw cli_error("--since and --until search the kept log; --follow shows new lines");
    }
    int wanted = o->level.empty() ? -1 : level_rank(o->level);
    std::string grep = o->grep;
    for (auto& c : grep) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::string pending, error_body;
    auto print = [&](const std::string& text) {
      json line = json::parse(text, nullptr, false);
      if (line.is_discarded()) return;
      int rank = level_rank(line.value("level", ""));
      if (wanted >= 0 && (o->level_exact ? rank != wanted : rank < wanted)) return;
      if (!grep.empty()) {
        std::string message = line.value("message", "");
        for (auto& c : message) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (message.find(grep) == std::string::npos) return;
      }
      std::cout << (o->format == "json" ? text : format_log_line(line)) << std::endl;
    };
    int status = client.stream(target, [&](std::string_view data) {
      pending.append(data);
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        print(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    });
    if (status < 200 || status >= 300) fail("cannot read logs", {status, pending});
  });
}

void add_rename(CLI::App& app) {
  struct options {
    server_option server;
    std::string db, to;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("rename", "Give a database a new name (replacing its names)");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("--to", o->to, "The new name")->required();
  o->server.add_to(cmd);
  cmd->callback([o] {
    auto client = connect(o->server);
    http_reply reply = client.request("PUT", db_path(o->db) + "/names", json::array({o->to}).dump());
    if (!reply.ok()) fail("rename failed", reply);
    std::cout << "Renamed database " << o->db << " to " << o->to << "\n";
  });
}

} // namespace

void add_database_commands(CLI::App& app) {
  add_publish(app);
  add_delete(app);
  add_list(app);
  add_logs(app);
  add_rename(app);
}

} // namespace orrery::cli

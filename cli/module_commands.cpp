// call, describe, init and build: working with modules.

#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/login.hpp"
#include "cli/module_build.hpp"
#include "modules/module_def.hpp"
#include "modules/module_host.hpp"
#include "modules/typescript_bindings.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

namespace orrery::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

http_client connect_to(const std::string& server) {
  config cfg = config::load();
  auto& entry = cfg.resolve(server.empty() ? std::nullopt : std::optional(server));
  return http_client(entry.url, token_for(cfg, entry));
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path);
  out << text;
  if (!out) throw cli_error("cannot write " + path.string());
}

void add_call(CLI::App& app) {
  struct options {
    std::string server, db, reducer;
    std::vector<std::string> args;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("call", "Call a reducer (arguments are JSON values)");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("reducer", o->reducer, "Reducer name")->required();
  cmd->add_option("args", o->args, "Arguments, each a JSON value (bare words are taken as strings)");
  cmd->add_option("-s,--server", o->server, "Server nickname or URL");
  cmd->callback([o] {
    json args = json::array();
    for (auto& a : o->args) {
      json parsed = json::parse(a, nullptr, false);
      args.push_back(parsed.is_discarded() ? json(a) : parsed);
    }
    http_reply reply = connect_to(o->server).request("POST", "/v1/database/" + url_encode(o->db) + "/call/" +
                                                               url_encode(o->reducer), args.dump());
    if (!reply.ok()) throw cli_error("call failed (HTTP " + std::to_string(reply.status) + "): " + reply.body);
    if (!reply.body.empty()) std::cout << reply.body << "\n";  // a procedure's return value
  });
}

void add_describe(CLI::App& app) {
  struct options {
    std::string server, db, kind, name;
    bool json_output = false;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("describe", "Print a database's module definition");
  cmd->add_option("database", o->db, "Database name or identity")->required();
  cmd->add_option("kind", o->kind, "table or reducer")->check(CLI::IsMember({"table", "reducer"}));
  cmd->add_option("name", o->name, "Its name");
  cmd->add_flag("--json", o->json_output, "Print JSON (the only format)");
  cmd->add_option("-s,--server", o->server, "Server nickname or URL");
  cmd->callback([o] {
    http_reply reply = connect_to(o->server).request("GET", "/v1/database/" + url_encode(o->db) + "/schema?version=9");
    if (!reply.ok()) throw cli_error("describe failed (HTTP " + std::to_string(reply.status) + "): " + reply.body);
    json def = json::parse(reply.body);
    if (o->kind.empty()) {
      std::cout << def.dump(2) << "\n";
      return;
    }
    if (o->name.empty()) throw cli_error("give the " + o->kind + "'s name");
    for (auto& entity : def.at(o->kind == "table" ? "tables" : "reducers"))
      if (entity.at("name") == o->name) {
        std::cout << entity.dump(2) << "\n";
        return;
      }
    throw cli_error("no " + o->kind + " named `" + o->name + "`");
  });
}

const char* starter_module = R"TS(import { schema, table, t } from 'spacetimedb/server';

const spacetimedb = schema({
  person: table(
    { public: true },
    {
      id: t.u64().primaryKey().autoInc(),
      name: t.string(),
    }
  ),
});
export default spacetimedb;

export const init = spacetimedb.init(_ctx => {});

export const add = spacetimedb.reducer({ name: t.string() }, (ctx, { name }) => {
  ctx.db.person.insert({ id: 0n, name });
});

export const say_hello = spacetimedb.reducer(ctx => {
  for (const person of ctx.db.person.iter()) {
    console.info(`Hello, ${person.name}!`);
  }
  console.info('Hello, World!');
});
)TS";

void add_init(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto cmd = app.add_subcommand("init", "Start a TypeScript module project");
  cmd->add_option("dir", *dir, "The project folder")->required();
  cmd->add_option("--lang", "Module language (typescript)")->check(CLI::IsMember({"typescript"}));
  cmd->callback([dir] {
    fs::path root = *dir;
    if (fs::exists(root / "package.json")) throw cli_error(root.string() + " already holds a project");
    std::string name = fs::absolute(root).filename().string();
    write_file(root / "package.json", json{{"name", name},
                                           {"private", true},
                                           {"type", "module"},
                                           {"scripts", {{"build", "orrery build"}}},
                                           {"dependencies", {{"spacetimedb", "2.10.1"}}},
                                           {"devDependencies", {{"esbuild", "0.28.2"}}}}
                                        .dump(2) + "\n");
    write_file(root / "tsconfig.json", json{{"compilerOptions", {{"target", "ES2022"},
                                                                 {"module", "ESNext"},
                                                                 {"moduleResolution", "Bundler"},
                                                                 {"strict", true},
                                                                 {"skipLibCheck", true},
                                                                 {"noEmit", true}}},
                                            {"include", {"src"}}}
                                         .dump(2) + "\n");
    write_file(root / ".gitignore", "node_modules/\ndist/\n");
    write_file(root / "src" / "index.ts", starter_module);
    std::cout << "Created a module project in " << root.string() << "\n\nNext:\n  cd " << root.string()
              << "\n  npm install\n  orrery publish my-database\n";
  });
}

void add_build(CLI::App& app) {
  auto path = std::make_shared<std::string>(".");
  auto cmd = app.add_subcommand("build", "Bundle the module project into dist/bundle.js");
  cmd->add_option("-p,--module-path", *path, "The project folder")->capture_default_str();
  cmd->callback([path] { std::cout << "Build finished: " << build_module(*path) << "\n"; });
}

// Describing a module needs no database: logs and schedules go nowhere.
struct offline_environment : module_environment {
  void log(log_level, std::string_view) override {}
  identity database_identity() const override { return {}; }
  std::string jwt_payload(const connection_id&) const override { return {}; }
  void schedule_immediate(std::string, std::string) override {}
};

/// Writes the bindings into `dir`, removing files an earlier generation wrote
/// there (or in its types/) that this one does not: a table or reducer the
/// module no longer has. Other folders are left alone.
void write_bindings(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  std::set<fs::path> fresh;
  for (auto& [name, text] : files) fresh.insert((dir / name).lexically_normal());
  std::error_code ec;
  for (const fs::path& folder : {dir, dir / "types"}) {
    if (!fs::is_directory(folder, ec)) continue;
    for (auto& entry : fs::directory_iterator(folder, ec)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".ts" || fresh.count(entry.path().lexically_normal())) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string head(512, '\0');
      in.read(head.data(), std::streamsize(head.size()));
      head.resize(std::size_t(in.gcount()));
      if (is_generated_binding(head)) fs::remove(entry.path(), ec);
    }
  }
  for (auto& [name, text] : files) write_file(dir / name, text);
  std::cout << "Generated TypeScript bindings in " << dir.string() << "\n";
}

void add_generate(CLI::App& app) {
  struct options {
    std::string lang = "typescript", out_dir, project = ".", js_path, database, server;
    bool include_private = false;
  };
  auto o = std::make_shared<options>();
  auto cmd = app.add_subcommand("generate", "Write client bindings for a module");
  cmd->add_option("-l,--lang", o->lang, "typescript")->check(CLI::IsMember({"typescript"}));
  cmd->add_option("-o,--out-dir", o->out_dir, "Where to write the bindings")->required();
  cmd->add_option("-p,--module-path", o->project, "The module project to build")->capture_default_str();
  cmd->add_option("-j,--js-path", o->js_path, "A built bundle instead of a project");
  cmd->add_option("-d,--database", o->database, "A published database instead of a project");
  cmd->add_option("-s,--server", o->server, "Server nickname or URL (with --database)");
  cmd->add_flag("--include-private", o->include_private, "Also private tables and reducers clients may not call");
  cmd->callback([o] {
    if (!o->database.empty()) {
      http_reply reply = connect_to(o->server).request("GET", "/v1/database/" + url_encode(o->database) + "/schema?version=9");
      if (!reply.ok()) throw cli_error("cannot read the schema of `" + o->database + "` (HTTP " + std::to_string(reply.status) + "): " + reply.body);
      auto def = module_def_from_json(reply.body);
      if (!def) throw cli_error(def.error().message);
      write_bindings(o->out_dir, typescript_bindings(*def, o->include_private));
      return;
    }
    std::string bundle_path = o->js_path.empty() ? build_module(o->project) : o->js_path;
    std::ifstream in(bundle_path, std::ios::binary);
    if (!in) throw cli_error("cannot read `" + bundle_path + "`");
    std::string bundle((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offline_environment env;
    auto loaded = module_instance::load(bundle, env);
    if (!loaded) throw cli_error(loaded.error().message);
    auto def = decode_module_def((*loaded)->definition());
    if (!def) throw cli_error(def.error().message);
    write_bindings(o->out_dir, typescript_bindings(*def, o->include_private));
  });
}

} // namespace

void add_module_commands(CLI::App& app) {
  add_generate(app);
  add_call(app);
  add_describe(app);
  add_init(app);
  add_build(app);
}

} // namespace orrery::cli

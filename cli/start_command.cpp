// `orrery start`: the host process. Opens the store and the token key, starts
// the actors and the HTTP server, and shuts all down cleanly on SIGINT/SIGTERM.

#include "actors/actor_system_settings.hpp"
#include "actors/host_metrics.hpp"
#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "cli/commands.hpp"
#include "modules/module_image.hpp"
#include "net/host_api.hpp"
#include "net/http_fetch.hpp"
#include "net/http_server.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sys/resource.h>

namespace orrery::cli {
namespace {

struct start_options {
  std::string listen_addr = "127.0.0.1:3000";
  std::string data_dir;
  std::size_t max_request_bytes = 64 << 20;
  std::chrono::milliseconds reducer_budget{5000};
  std::size_t heap_limit_mb = 256;
  std::size_t max_connections = http_limits{}.connections;
  double idle_timeout_seconds = 60;
  std::size_t memory_budget_mb = 0;
  std::size_t log_retention_mb = 8;
  double log_retention_days = 0;
  std::string metrics_token;
  double metrics_interval_seconds = 10;
  bool in_memory = false;
  http_fetch_policy outbound_http;
};

std::string default_data_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/orrery";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/orrery";
}

void run_host(const start_options& o) {
  auto colon = o.listen_addr.rfind(':');
  if (colon == std::string::npos) throw cli_error("--listen-addr must be HOST:PORT, not `" + o.listen_addr + "`");
  std::string host = o.listen_addr.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(o.listen_addr.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw cli_error("bad port in --listen-addr `" + o.listen_addr + "`");
  std::string data_dir = o.data_dir.empty() ? default_data_dir() : o.data_dir;
  if (o.in_memory) {  // a scratch folder, removed when the host stops
    // mkdtemp replaces the six trailing placeholder characters.
    std::string pattern = (std::filesystem::temp_directory_path() / ("orrery-in-memory-" + std::string(6, 'X'))).string();
    if (!mkdtemp(pattern.data())) throw cli_error("cannot create a scratch folder for --in-memory");
    data_dir = pattern;
  }
  std::filesystem::create_directories(data_dir);
  struct scratch_remover {
    std::string dir;
    ~scratch_remover() {
      if (!dir.empty()) std::filesystem::remove_all(dir);
    }
  } scratch{o.in_memory ? data_dir : std::string()};

  // Signals are taken by sigwait below, so every thread started from here on blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every connection takes a file descriptor: allow as many as the system lets us.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  std::string error;
  auto db = store::open(data_dir + "/store", error);
  if (!db) throw cli_error(error);
  auto tokens = token_issuer::open(data_dir, error);
  if (!tokens) throw cli_error(error);
  committer durability(*db);
  // The server outlives the actors: connection actors may still close their
  // sockets while the actor system shuts down.
  router routes;
  std::unique_ptr<http_server> server;
  {
    module_image_cache images;  // outlives the actors that share it
    // ... and so do the figures they keep.
    host_metrics metrics{std::chrono::milliseconds(std::int64_t(o.metrics_interval_seconds * 1000))};
    caf::actor_system_config cfg;
    apply_actor_system_settings(cfg);
    caf::actor_system system{cfg};
    log_retention retention;
    retention.max_bytes = o.log_retention_mb << 20;
    retention.max_age_micros = std::int64_t(o.log_retention_days * 86400e6);
    auto logs = spawn_log_actor(system, *db, retention);
    database_context context{db.get(), &durability, logs, o.reducer_budget, o.heap_limit_mb << 20,
                             std::chrono::milliseconds(std::int64_t(std::ceil(o.idle_timeout_seconds * 1000)))};
    context.memory_budget_bytes = std::uint64_t(o.memory_budget_mb) << 20;
    context.images = &images;
    context.metrics = &metrics;
    // A procedure, waiting for its requests included, runs within the reducer time budget.
    http_fetch_policy policy = o.outbound_http;
    policy.max_timeout = std::min(policy.max_timeout, o.reducer_budget);
    policy.default_timeout = std::min(policy.default_timeout, policy.max_timeout);
    context.fetch_http = [policy](const http_fetch_request& request) { return http_fetch(request, policy); };
    auto registry = spawn_registry_actor(system, context);
    host_services services{system, registry, logs, *tokens, &metrics, o.metrics_token};
    add_identity_routes(routes, services);
    add_database_routes(routes, services);
    add_subscribe_route(routes, services);
    add_metrics_routes(routes, services);
    add_console_routes(routes, services);
    add_access_routes(routes, services);
    auto stop_actors = [&] {
      caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(logs, caf::exit_reason::user_shutdown);
    };
    try {
      http_limits limits;
      limits.body_bytes = o.max_request_bytes;
      limits.connections = o.max_connections;
      server = std::make_unique<http_server>(routes, host, std::uint16_t(port), limits);
    } catch (const std::runtime_error& e) {
      stop_actors();
      throw cli_error(e.what());
    }
    server->start(2);
    std::cout << "Orrery listening on http://" << host << ":" << server->port() << " (data in " << data_dir << ")"
              << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    std::cout << "Shutting down" << std::endl;
    server->stop();
    stop_actors();
    system.await_all_actors_done();  // before the services they use go
  }  // the actor system ends here, before commits finish and the store closes
}

} // namespace

void add_start_command(CLI::App& app) {
  auto o = std::make_shared<start_options>();
  auto cmd = app.add_subcommand("start", "Run an Orrery host");
  cmd->add_option("-l,--listen-addr", o->listen_addr, "Address to listen on")->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "Where the host keeps its data (default ~/.local/share/orrery)");
  cmd->add_flag("--in-memory", o->in_memory, "Keep nothing after the host stops");
  cmd->add_flag("--allow-private-outbound-http", o->outbound_http.allow_private_addresses,
                "Let procedures' HTTP requests reach loopback and private addresses (for local services and tests)");
  cmd->add_option("--max-request-bytes", o->max_request_bytes, "Largest request body accepted")
    ->capture_default_str();
  cmd->add_option("--max-connections", o->max_connections, "Open HTTP and WebSocket connections served at once")
    ->capture_default_str();
  cmd->add_option("--module-heap-limit-mb", o->heap_limit_mb, "V8 heap of each database's module")
    ->capture_default_str();
  cmd->add_option("--idle-timeout", o->idle_timeout_seconds,
                  "Seconds a database without clients or calls stays in memory before it sleeps (0: never)")
    ->check(CLI::Range(0.0, 31536000.0))  // up to a year
    ->capture_default_str();
  cmd->add_option("--memory-budget", o->memory_budget_mb,
                  "MB that awake databases may hold together; past it the least recently used idle ones sleep "
                  "(0: no budget)")
    ->check(CLI::Range(std::size_t(0), std::size_t(1) << 30))
    ->capture_default_str();
  cmd->add_option("--log-retention-mb", o->log_retention_mb, "MB of log each database keeps, newest lines first")
    ->check(CLI::Range(std::size_t(1), std::size_t(1) << 20))
    ->capture_default_str();
  cmd->add_option("--log-retention-days", o->log_retention_days,
                  "Days a log line is kept (0: until the size limit drops it)")
    ->check(CLI::Range(0.0, 36500.0))
    ->capture_default_str();
  cmd->add_option("--metrics-token", o->metrics_token,
                  "A secret GET /metrics asks for as a bearer token (default: /metrics is open to all)");
  cmd->add_option("--metrics-interval", o->metrics_interval_seconds,
                  "Seconds between the points of each database's hour of metrics history (the console's charts)")
    ->check(CLI::Range(1.0, 60.0))
    ->capture_default_str();
  auto budget_ms = std::make_shared<long>(5000);
  cmd->add_option("--reducer-time-budget-ms", *budget_ms, "A reducer running longer is stopped and rolled back")
    ->capture_default_str();
  cmd->callback([o, budget_ms] {
    o->reducer_budget = std::chrono::milliseconds(*budget_ms);
    run_host(*o);
  });
}

} // namespace orrery::cli

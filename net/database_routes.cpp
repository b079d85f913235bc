// Routes under /v1/database: publishing, names, deletion, locking, SQL, logs
// and figures, each allowed by the caller's role (actors/roles.hpp).

#include "actors/host_metrics.hpp"
#include "actors/roles.hpp"
#include "net/host_api.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <charconv>

namespace orrery {
namespace {

using json = nlohmann::json;

void publish(host_services& host, call_ptr call, std::string target) {
  auto caller = authenticate(host, *call, true);
  if (!caller) return;
  if (auto type = call->request.query_value("host_type"); type && *type != "Js")
    return call->reply(400, "host_type `" + *type + "` is not supported; Orrery runs Js modules");
  auto policy = call->request.query_value("policy").value_or("Compatible");
  if (policy != "Compatible" && policy != "BreakClients")
    return call->reply(400, "policy must be Compatible or BreakClients, not `" + policy + "`");
  publish_request req{caller->id, target, std::move(call->request.body),
                      call->request.query_value("clear") == std::optional<std::string>("true"), policy == "BreakClients",
                      call->request.query_value("module_hash").value_or("")};
  ask(host, call, host.registry,
      [call](const publish_result& result) {
        const auto& r = result.record;
        json domain = r.names.empty() ? json(nullptr) : json(r.names.front());
        json success = {{"domain", domain},
                        {"database_identity", r.database_identity.to_hex()},
                        {"op", result.created ? "created" : "updated"},
                        {"module_hash", r.program_hash}};
        call->reply(http_response::json(200, json{{"Success", success}}.dump()));
      },
      publish_atom::value, std::move(req));
}

/// The caller's token, then database `:x` if the caller's role on it permits
/// `wanted` (else 403), then `then(record, caller)`.
template <class Then>
void with_permission(host_services& host, call_ptr call, action wanted, Then then) {
  auto caller = authenticate(host, *call, true);
  if (!caller) return;
  ask(host, call, host.registry,
      [call, caller = caller->id, wanted, then](const database_record& r, std::uint8_t held) {
        if (!permits(role(held), wanted))
          return call->reply(403, refusal(caller.to_hex(), role(held), wanted, call->param("x")));
        then(r, caller);
      },
      role_atom::value, caller->id, call->param("x"));
}

int status_of(call_result_kind kind) {
  switch (kind) {
    case call_result_kind::ok: return 200;
    case call_result_kind::user_error: return 530;
    case call_result_kind::internal_error: return 500;
    case call_result_kind::no_such_reducer: return 404;
    case call_result_kind::bad_arguments: return 400;
  }
  return 500;
}

void call_reducer(host_services& host, call_ptr call) {
  auto caller = authenticate(host, *call, true);
  if (!caller) return;
  reducer_call req{caller->id, connection_id{}, call->param("reducer"), call->request.body, true, true};
  ask_database(
    host, call, call->param("x"), [req](const database_record&) { return std::make_tuple(call_atom::value, req); },
    [call](const call_result& result) {
      if (result.kind == call_result_kind::ok && !result.value_json.empty())
        return call->reply(http_response::json(200, result.value_json));  // a procedure's return value
      call->reply(status_of(result.kind), result.message);
    });
}

// A request to one of the module's own HTTP routes: served by its handler,
// without authentication (the module decides what it answers).
void serve_module_route(host_services& host, call_ptr call) {
  const http_request& in = call->request;
  route_request req;
  req.method = in.method;
  // "" for .../route, "/" for .../route/, "/a/b" for .../route/a/b.
  const std::string& rest = call->param("path");
  bool trailing = !in.path.empty() && in.path.back() == '/';
  req.path = rest.empty() ? (trailing ? "/" : "") : "/" + rest + (trailing ? "/" : "");
  std::string scheme = in.header("x-forwarded-proto").value_or("http");
  std::string authority = in.header("x-forwarded-host").value_or(in.header("host").value_or("localhost"));
  req.uri = scheme + "://" + authority + in.target;
  for (auto& [name, value] : in.headers) req.headers.emplace_back(name, value);
  req.body = in.body;
  ask_database(
    host, call, call->param("x"), [req](const database_record&) { return std::make_tuple(route_atom::value, req); },
    [call](const route_response& answer) {
      http_response out;
      out.status = answer.status;
      for (auto& [name, value] : answer.headers) {
        if (name.size() == 12 && std::equal(name.begin(), name.end(), "content-type",
                                            [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
          out.content_type = value;
        else
          out.headers.emplace_back(name, value);
      }
      out.body = answer.body;
      // The module's pages share the console's origin: a sandbox gives them an
      // origin of their own, so their scripts cannot read a signed-in console's token.
      out.headers.emplace_back("Content-Security-Policy",
                               "sandbox allow-scripts allow-forms allow-popups allow-downloads");
      call->reply(std::move(out));
    });
}

void names_reply(call_ptr call, const database_record& r) {
  call->reply(http_response::json(200, json{{"names", r.names}}.dump()));
}

void follow_logs(host_services& host, call_ptr call, std::uint64_t db, std::uint32_t n, const identity& who) {
  auto out = call->out;
  auto extra = call->extra_headers;
  auto listener = host.system.spawn([&host, out, extra, db, n, who](log_listener::pointer self)
                                      -> log_listener::behavior_type {
    self->request(host.logs, actor_request_timeout, follow_atom::value, db, n, who,
                  log_listener{self})
      .then([out, extra](const std::vector<std::string>& lines) {
        http_response head;
        head.content_type = "application/x-ndjson";
        head.headers = extra;
        out->begin_stream(std::move(head));
        for (auto& line : lines) out->stream(line + "\n");
      },
      [out, self](caf::error& err) {
        out->send(http_response::text(503, error_message(err)));
        self->quit();
      });
    return {
      [out](line_atom, const std::string& line) { out->stream(line + "\n"); },
      [out, self](closed_atom) {
        out->end_stream();
        self->quit();
      },
    };
  });
  out->on_close([listener] { caf::anon_send_exit(listener, caf::exit_reason::user_shutdown); });
}

} // namespace

void add_database_routes(router& routes, host_services& host) {
  routes.add("POST", "/v1/database", [&host](call_ptr call) { publish(host, call, ""); });
  // The last hour of the database's figures and its recent calls (viewer role or above), for the console.
  routes.add("GET", "/v1/database/:x/metrics", [&host](call_ptr call) {
    with_permission(host, call, action::observe, [&host, call](const database_record& r, const identity&) {
      json points = json::array(), calls = json::array();
      if (host.metrics) {
        for (auto& p : host.metrics->history(r.id))
          points.push_back({{"at", p.at_micros}, {"calls_per_s", p.calls_per_s}, {"errors_per_s", p.errors_per_s},
                            {"commits_per_s", p.commits_per_s}, {"host_fsyncs_per_s", p.host_fsyncs_per_s},
                            {"p50_ms", p.p50_ms}, {"p99_ms", p.p99_ms},
                            {"clients", p.clients}, {"subscriptions", p.subscriptions}, {"rows", p.rows},
                            {"memory_bytes", p.memory_bytes}});
        for (auto& c : host.metrics->recent_calls(r.id))
          calls.push_back({{"at", c.at_micros}, {"function", c.function}, {"caller", c.caller.to_hex()},
                           {"micros", c.micros},
                           {"outcome", c.result == call_record::outcome::ok           ? "ok"
                                       : c.result == call_record::outcome::user_error ? "user_error"
                                                                                      : "internal_error"},
                           {"error", c.error}});
      }
      call->reply(http_response::json(200, json{{"history", points}, {"recent_calls", calls}}.dump()));
    });
  });
  // The migration plan publishing the body's bundle to `:x` would apply (developer role or above).
  routes.add("POST", "/v1/database/:x/pre_publish", [&host](call_ptr call) {
    with_permission(host, call, action::publish, [&host, call](const database_record& allowed, const identity&) {
      ask_database(
        host, call, allowed.database_identity.to_hex(),  // the database whose access was checked
        [call](const database_record&) { return std::make_tuple(plan_atom::value, call->request.body); },
        [call](const std::string& plan) {
          json p = json::parse(plan);
          json steps = p.at("steps");
          json body = p.at("forbidden").get<bool>()
                        ? json{{"ManualMigrate", {{"reason", p.at("text")}, {"steps", steps}}}}
                        : json{{"AutoMigrate",
                                {{"migrate_plan", p.at("text")}, {"break_clients", p.at("breaks_clients")}, {"steps", steps}}}};
          call->reply(http_response::json(200, body.dump()));
        });
    });
  });
  routes.add("PUT", "/v1/database/:x", [&host](call_ptr call) { publish(host, call, call->param("x")); });
  // What anyone may know of a database: its identities, names, module and times (µs since the epoch).
  routes.add("GET", "/v1/database/:x", [&host](call_ptr call) {
    ask(host, call, host.registry,
        [call](const database_record& r) {
          json info = {{"database_identity", r.database_identity.to_hex()},
                       {"owner_identity", r.owner.to_hex()},
                       {"host_type", "Js"},
                       {"names", r.names},
                       {"module_hash", r.program_hash},
                       {"locked", r.locked},
                       {"created_micros", r.created_micros},
                       {"updated_micros", r.updated_micros}};
          call->reply(http_response::json(200, info.dump()));
        },
        lookup_atom::value, call->param("x"));
  });
  // The queries clients subscribe to, with subscriber counts and evaluation cost (viewer role or above).
  routes.add("GET", "/v1/database/:x/subscriptions", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    ask(host, call, host.registry,
        [call](const std::vector<subscribed_query>& queries) {
          json list = json::array();
          for (auto& q : queries)
            list.push_back({{"query", q.text}, {"subscribers", q.subscribers}, {"evaluations", q.evaluations},
                            {"evaluation_micros", q.micros}, {"rows", q.rows}});
          call->reply(http_response::json(200, json{{"queries", list}}.dump()));
        },
        queries_atom::value, caller->id, call->param("x"));
  });

  routes.add("POST", "/v1/database/:x/call/:reducer", [&host](call_ptr call) { call_reducer(host, call); });
  routes.add("*", "/v1/database/:x/route/*path", [&host](call_ptr call) { serve_module_route(host, call); });

  // Each statement runs with what the caller's role permits: reading private
  // data, writing rows (the engine refuses the rest).
  routes.add("POST", "/v1/database/:x/sql", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    ask(host, call, host.registry,
        [&host, call, who = caller->id](const database_record& r, std::uint8_t held) {
          ask_database(
            host, call, r.database_identity.to_hex(),
            [call, who, held](const database_record&) {
              return std::make_tuple(sql_atom::value, who, held, call->request.body);
            },
            [call](const sql_reply& answer) {
              call->reply(answer.status == 200 ? http_response::json(200, answer.body)
                                               : http_response::text(answer.status, answer.body));
            });
        },
        role_atom::value, caller->id, call->param("x"));
  });

  routes.add("GET", "/v1/database/:x/schema", [&host](call_ptr call) {
    auto version = call->request.query_value("version");
    if (!version || (*version != "9" && *version != "10"))
      return call->reply(400, "give the module definition version: ?version=9 or ?version=10");
    std::uint32_t wanted = *version == "10" ? 10 : 9;
    ask_database(
      host, call, call->param("x"),
      [wanted](const database_record&) { return std::make_tuple(describe_atom::value, wanted); },
      [call](const std::string& json) { call->reply(http_response::json(200, json)); });
  });

  routes.add("GET", "/v1/database/:x/usage", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    ask(host, call, host.registry,
        [call](const database_record&, const database_usage& usage) {
          json body = {{"state", usage.awake ? "awake" : "asleep"},
                       {"memory_bytes", usage.total()},
                       {"heap_bytes", usage.heap_bytes},
                       {"table_bytes", usage.table_bytes},
                       {"queued", usage.queued},
                       {"idle_seconds", double(usage.idle_micros) / 1e6}};
          call->reply(http_response::json(200, body.dump()));
        },
        usage_atom::value, caller->id, call->param("x"));
  });

  routes.add("GET", "/v1/database/:x/identity", [&host](call_ptr call) {
    ask(host, call, host.registry,
        [call](const database_record& r) { call->reply(200, r.database_identity.to_hex()); },
        lookup_atom::value, call->param("x"));
  });

  routes.add("DELETE", "/v1/database/:x", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    ask(host, call, host.registry, [call](const database_record&) { call->reply(200, ""); },
        delete_atom::value, caller->id, call->param("x"));
  });

  routes.add("GET", "/v1/database/:x/names", [&host](call_ptr call) {
    ask(host, call, host.registry, [call](const database_record& r) { names_reply(call, r); },
        lookup_atom::value, call->param("x"));
  });

  // POST adds one name (the body); PUT replaces all names (a JSON array).
  routes.add("POST", "/v1/database/:x/names", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    std::string name = call->request.body;
    ask(host, call, host.registry, [call](const database_record& r) { names_reply(call, r); },
        names_atom::value, caller->id, call->param("x"), std::vector<std::string>{name}, false);
  });
  routes.add("PUT", "/v1/database/:x/names", [&host](call_ptr call) {
    auto caller = authenticate(host, *call, true);
    if (!caller) return;
    std::vector<std::string> names;
    try {
      names = json::parse(call->request.body).get<std::vector<std::string>>();
    } catch (const json::exception&) {
      return call->reply(400, "body must be a JSON array of names, like [\"my-db\"]");
    }
    ask(host, call, host.registry, [call](const database_record& r) { names_reply(call, r); },
        names_atom::value, caller->id, call->param("x"), std::move(names), true);
  });

  for (bool lock : {true, false}) {
    routes.add("POST", lock ? "/v1/database/:x/lock" : "/v1/database/:x/unlock",
               [&host, lock](call_ptr call) {
                 auto caller = authenticate(host, *call, true);
                 if (!caller) return;
                 ask(host, call, host.registry, [call](const database_record&) { call->reply(200, ""); },
                     lock_atom::value, caller->id, call->param("x"), lock);
               });
  }

  routes.add("GET", "/v1/database/:x/logs", [&host](call_ptr call) {
    std::uint32_t n = 0;
    if (auto text = call->request.query_value("num_lines")) {
      try {
        n = std::uint32_t(std::stoul(*text));
      } catch (const std::exception&) {
        return call->reply(400, "num_lines must be a non-negative number, not `" + *text + "`");
      }
    }
    bool follow = call->request.query_value("follow") == std::optional<std::string>("true");
    // A search: lines holding `grep`, from `since` to `until` (µs since the epoch), at `level` or above.
    std::string grep = call->request.query_value("grep").value_or("");
    std::string level = call->request.query_value("level").value_or("");
    std::int64_t since = 0, until = 0;
    for (auto [name, into] : {std::pair<const char*, std::int64_t*>{"since", &since}, {"until", &until}})
      if (auto text = call->request.query_value(name)) {
        auto [end, problem] = std::from_chars(text->data(), text->data() + text->size(), *into);
        if (problem != std::errc() || end != text->data() + text->size() || *into <= 0)
          return call->reply(400, std::string(name) + " must be microseconds since the epoch, not `" + *text + "`");
      }
    if (since && until && since >= until) return call->reply(400, "since must come before until");
    if (grep.size() > 1000) return call->reply(400, "grep is at most 1000 bytes");
    if (!level.empty() && log_level_rank(level) < 0)
      return call->reply(400, "level must be trace, debug, info, warn, error or panic, not `" + level + "`");
    const bool search = !grep.empty() || !level.empty() || since || until;
    if (search && follow) return call->reply(400, "follow a log, or search it, not both");
    with_permission(host, call, action::observe, [&host, call, n, follow, search, grep, level, since, until](
                                                   const database_record& r, const identity& who) {
      if (follow) return follow_logs(host, call, r.id, n, who);
      auto answer = [call](const std::vector<std::string>& lines) {
        std::string body;
        for (auto& line : lines) body += line + "\n";
        http_response res = http_response::json(200, std::move(body));
        res.content_type = "application/x-ndjson";
        call->reply(std::move(res));
      };
      if (search) return ask(host, call, host.logs, answer, search_atom::value, r.id, grep, since, until, level, n);
      ask(host, call, host.logs, answer, tail_atom::value, r.id, n);
    });
  });
}

} // namespace orrery

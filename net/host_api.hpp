#pragma once
// What the HTTP routes share: the host's actors and token issuer, caller
// authentication, turning host errors into HTTP replies, and `ask`, which
// sends a request to an actor and continues on an actor thread with its reply.

#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "net/auth/token_issuer.hpp"
#include "net/router.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <optional>
#include <tuple>

namespace orrery {

class host_metrics;

struct host_services {
  caf::actor_system& system;
  registry_actor registry;
  log_actor logs;
  token_issuer& tokens;
  host_metrics* metrics = nullptr;  // none: no history or recent calls to show
  std::string metrics_token;        // when set, GET /metrics asks for it as a bearer token
};

constexpr auto actor_request_timeout = std::chrono::seconds(30);

/// The caller's verified token. Without an Authorization header, a fresh
/// identity is minted when `mint_if_missing` (its headers go on the reply),
/// else the call is answered 401. A bad token is answered 400 or 401.
/// nullopt means the call has been answered.
std::optional<verified_token> authenticate(host_services& host, http_call& call,
                                           bool mint_if_missing);

/// Answers the call with the HTTP status and message `err` stands for.
void reply_error(http_call& call, const caf::error& err);

/// Sends `xs...` to `dest`; `on_reply` runs with the reply on an actor thread,
/// errors are answered with `reply_error`.
template <class Handle, class OnReply, class... Ts>
void ask(host_services& host, const call_ptr& call, const Handle& dest, OnReply on_reply,
         Ts... xs) {
  host.system.spawn([call, dest, on_reply = std::move(on_reply),
                     args = std::make_tuple(std::move(xs)...)](caf::event_based_actor* self) mutable {
    std::apply(
      [&](auto&... a) {
        self->request(dest, actor_request_timeout, a...)
          .then(std::move(on_reply), [call](caf::error& err) { reply_error(*call, err); });
      },
      args);
  });
}

/// Opens database `target` (the registry wakes it when it sleeps) and sends it
/// the request `make_request(record)` returns, as a tuple; `on_reply` runs with
/// the reply, errors are answered with `reply_error`. A database that falls
/// asleep as the request reaches it bounces it; it is then sent again, and
/// the registry wakes the database for it.
template <class MakeRequest, class OnReply>
void ask_database(const host_services& host, const call_ptr& call, const std::string& target, MakeRequest make_request,
                  OnReply on_reply, int attempts = 3) {
  // `host` is copied: a retry may come as the host shuts down.
  host.system.spawn([host, call, target, make_request, on_reply, attempts](caf::event_based_actor* self) {
    self->request(host.registry, actor_request_timeout, open_atom::value, target)
      .then(
        [=](const database_record& record, const database_actor& db) {
          auto request = make_request(record);
          std::apply(
            [&](auto&... a) {
              self->request(db, actor_request_timeout, a...)
                .then(on_reply, [=](caf::error& err) {
                  if (err == caf::sec::request_receiver_down && attempts > 1)
                    return ask_database(host, call, target, make_request, on_reply, attempts - 1);
                  reply_error(*call, err);
                });
            },
            request);
        },
        [call](caf::error& err) { reply_error(*call, err); });
  });
}

void add_identity_routes(router& routes, host_services& host);
void add_database_routes(router& routes, host_services& host);
void add_subscribe_route(router& routes, host_services& host);
void add_metrics_routes(router& routes, host_services& host);
void add_console_routes(router& routes, host_services& host);
void add_access_routes(router& routes, host_services& host);

} // namespace orrery

#pragma once
// What the commands that talk to a host share: the `-s,--server` option, a
// client logged in to the chosen host, and failing with the host's answer.

#include "cli/http_client.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace orrery::cli {

struct server_option {
  std::string value;
  void add_to(CLI::App* cmd) { cmd->add_option("-s,--server", value, "Server nickname or URL"); }
  std::optional<std::string> get() const { return value.empty() ? std::nullopt : std::optional(value); }
};

/// A client for the chosen server, logged in unless `anonymous`.
http_client connect(const server_option& server, bool anonymous = false);

/// Throws cli_error saying `what` failed, with the host's status and message.
[[noreturn]] void fail(const std::string& what, const http_reply& reply);

} // namespace orrery::cli

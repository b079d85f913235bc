#pragma once
// Server-issued identities for the CLI.

#include "cli/config.hpp"

namespace orrery::cli {

/// Asks `server` for a new identity and saves its token in `cfg`.
void login(config& cfg, server_entry& server);
/// The saved token for `server`, logging in first when there is none.
const std::string& token_for(config& cfg, server_entry& server);

} // namespace orrery::cli

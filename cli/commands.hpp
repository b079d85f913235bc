#pragma once
// The `orrery` command's subcommands. Each `add_*` registers its subcommands
// on the app; their callbacks throw `cli_error` to fail with a message.

#include <CLI/CLI.hpp>

#include <stdexcept>

namespace orrery::cli {

struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void add_start_command(CLI::App& app);
void add_account_commands(CLI::App& app);
void add_database_commands(CLI::App& app);
void add_module_commands(CLI::App& app);
void add_sql_command(CLI::App& app);
void add_subscribe_command(CLI::App& app);
void add_access_commands(CLI::App& app);

} // namespace orrery::cli

// The `orrery` command: runs the host (`orrery start`) and talks to hosts.

#include "cli/commands.hpp"

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"Orrery: a host for databases that run JavaScript/TypeScript modules"};
  app.require_subcommand(1);
  orrery::cli::add_start_command(app);
  orrery::cli::add_account_commands(app);
  orrery::cli::add_database_commands(app);
  orrery::cli::add_access_commands(app);
  orrery::cli::add_module_commands(app);
  orrery::cli::add_sql_command(app);
  orrery::cli::add_subscribe_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const orrery::cli::cli_error& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

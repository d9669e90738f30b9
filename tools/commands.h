// The revrouter subcommands: thin mains over the libraries, one file each (cmd_<name>.cc).
#pragma once

#include <CLI/CLI.hpp>

namespace revrouter::tools {

// Each adds its subcommand to `app`; the subcommand's callback runs it and sets `exit_code`.
void add_serve_command(CLI::App& app, int& exit_code);
void add_certs_command(CLI::App& app, int& exit_code);
void add_replay_command(CLI::App& app, int& exit_code);
void add_manifests_command(CLI::App& app, int& exit_code);
void add_loadtest_command(CLI::App& app, int& exit_code);

}  // namespace revrouter::tools

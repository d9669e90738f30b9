// revrouter: the Istio revision-routing injection webhook and its operator tools.
#include <CLI/CLI.hpp>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"revrouter: routes Istio sidecar injection to control-plane revisions"};
  app.require_subcommand(1);
  int exit_code = 0;
  revrouter::tools::add_serve_command(app, exit_code);
  revrouter::tools::add_certs_command(app, exit_code);
  revrouter::tools::add_replay_command(app, exit_code);
  revrouter::tools::add_manifests_command(app, exit_code);
  revrouter::tools::add_loadtest_command(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}

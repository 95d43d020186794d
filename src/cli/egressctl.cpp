// egressctl: works on policy directories and audit logs without a running gateway.
#include <CLI/CLI.hpp>

#include "ctl/audit_commands.hpp"
#include "ctl/policy_commands.hpp"
#include "version.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "egressctl: check, explain, test and replay egressd policies; verify and summarise audit "
      "logs"};
  app.set_version_flag("--version", std::string("egressctl ") + egress::kVersion + " (commit " +
                                        egress::build_commit() + ")");
  app.require_subcommand(1);
  int exit_code = 0;
  egress::ctl::register_policy_commands(app, exit_code);
  egress::ctl::register_audit_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}

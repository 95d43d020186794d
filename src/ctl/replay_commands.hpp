#pragma once

#include <CLI/CLI.hpp>

namespace egress::ctl {

/// Adds `replay` and `unused` under the `policy` subcommand `policy_cmd`. Each callback sets
/// `exit_code`: 0 no difference (nothing unused), 1 a difference of the --fail-on kind (something
/// unused), 2 a usage error, a policy that does not load, an unreadable file or a broken chain.
void register_replay_commands(CLI::App& policy_cmd, int& exit_code);

}  // namespace egress::ctl

#pragma once

#include <CLI/CLI.hpp>

namespace egress::ctl {

/// Adds `policy check|explain|test|replay|unused` under `app`. Each subcommand's callback sets
/// `exit_code`.
void register_policy_commands(CLI::App& app, int& exit_code);

}  // namespace egress::ctl

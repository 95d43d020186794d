#pragma once

#include <CLI/CLI.hpp>

namespace egress::ctl {

/// Adds `audit verify|summary` under `app`. Each subcommand's callback sets `exit_code`.
void register_audit_commands(CLI::App& app, int& exit_code);

}  // namespace egress::ctl

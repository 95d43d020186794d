#include "ctl/audit_commands.hpp"

namespace egress::ctl {

// Placeholder until the audit library lands (issue 5).
void register_audit_commands(CLI::App& app, int& exit_code) {
  (void)app;
  (void)exit_code;
}

}  // namespace egress::ctl
